"""The steps both entry points share: a fresh run directory, callbacks, loggers, trainer."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from pretrainkit.errors import BadValueError, RunExistsError
from pretrainkit.run.checkpoint_io import epochs_done, remove_partial_saves
from pretrainkit.run.files import CHECKPOINTS, MARKERS
from pretrainkit.run.resume import ResumeError, resume_checkpoint
from pretrainkit.run.tracking import previous_run_id

log = logging.getLogger(__name__)


def is_rank_zero() -> bool:
    """True unless this process is a non-zero rank started by a launcher (DDP, SLURM)."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


@dataclass(frozen=True)
class Run:
    dir: Path
    ckpt_path: str | None  # what trainer.fit starts from
    resumed: bool  # continues the run already in `dir`
    started: float = field(default_factory=time.monotonic)


def start_run(cfg: DictConfig) -> Run:
    """Seed everything and say where the run writes and what it starts from: its own last
    checkpoint when it resumes (`resume=`, or `auto_resume` of an unfinished run in the same
    directory), else `ckpt_path`. A fresh run refuses a directory that already holds a run."""
    out = Path(cfg.paths.output_dir)
    if cfg.get("resume") and Path(cfg.resume).resolve() != out.resolve():
        raise ResumeError(
            f"resume={cfg.resume} but this run writes to {out}; leave hydra.run.dir unset to "
            "continue in the resumed run's directory."
        )
    resumed = resume_checkpoint(cfg, out)
    if resumed is not None:
        log.info("resuming the run in %s from %s", out, resumed)
    elif is_rank_zero():
        taken = [m for m in MARKERS if (out / m).exists()]
        if taken:
            raise RunExistsError(
                f"{out} already holds a run ({', '.join(taken)}); nothing was overwritten. "
                "Choose a new directory (hydra.run.dir=...) or leave hydra.run.dir at its default."
            )
    if is_rank_zero() and (partial := remove_partial_saves(out / CHECKPOINTS)):
        log.info("removed %d partial checkpoint file(s) a kill left in %s", len(partial), out)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    run = Run(out, str(resumed), True) if resumed else Run(out, cfg.get("ckpt_path"), False)
    if run.ckpt_path is not None and Path(run.ckpt_path).is_file():
        check_epochs_left(run, cfg.trainer.get("max_epochs"))
    return run


def check_epochs_left(run: Run, max_epochs: int | None) -> None:
    """Lightning refuses a checkpoint that has trained more epochs than `trainer.max_epochs`,
    with a traceback: refuse it here, in one line."""
    given = f"resume={run.dir}" if run.resumed else f"ckpt_path={run.ckpt_path}"
    done = epochs_done(run.ckpt_path, given)  # type: ignore[arg-type]
    if max_epochs is not None and max_epochs != -1 and done > max_epochs:
        raise BadValueError(
            f"trainer.max_epochs={max_epochs} but {given} has already trained {done} epochs; "
            f"set trainer.max_epochs above {done} to train further (e.g. trainer.max_epochs={done + max_epochs})."
        )


def build_loggers(cfg: DictConfig, resumed: bool = False) -> list[Logger]:
    """The configured loggers; a resumed run logs on into its W&B run (same id)."""
    loggers = []
    for c in (cfg.get("logger") or {}).values():
        if not c or "_target_" not in c:
            continue
        extra: dict[str, Any] = {}
        if resumed and "Wandb" in c._target_ and (run_id := previous_run_id(c.save_dir)):
            extra = {"id": run_id, "resume": "allow"}
        elif resumed and c._target_.endswith("CSVLogger"):  # it would clear metrics.csv
            n = len(list(Path(c.save_dir, c.name).glob("resumed-*")))
            extra = {"version": f"resumed-{n + 1}"}  # csv/resumed-<n>/metrics.csv
        loggers.append(instantiate(c, **extra))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    return loggers


def build_trainer(cfg: DictConfig, loggers: list[Logger]) -> L.Trainer:
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
    if not cfg.trainer.get("enable_progress_bar", True):
        # the switch turns the configured bar off too: Lightning refuses a bar callback with it
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def scalar_metrics(trainer: L.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def finish(loggers: list[Logger]) -> None:
    """Close W&B runs so a multirun's next job starts a new one."""
    for logger in loggers:
        logger.finalize("success")
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()
