"""The steps both entry points share: a fresh run directory, callbacks, loggers, trainer."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

# What a finished or running run leaves in its directory; finding one means "not fresh".
RUN_MARKERS = ("checkpoints", "metrics.json", "backbone.safetensors")


def is_rank_zero() -> bool:
    """True unless this process is a non-zero rank started by a launcher (DDP, SLURM)."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def start_run(cfg: DictConfig) -> Path:
    """Seed everything and return the run directory, refusing one that already holds a run."""
    out = Path(cfg.paths.output_dir)
    if is_rank_zero():
        taken = [m for m in RUN_MARKERS if (out / m).exists()]
        if taken:
            raise FileExistsError(
                f"{out} already holds a run ({', '.join(taken)}); nothing was overwritten. "
                "Choose a new directory (hydra.run.dir=...) or leave hydra.run.dir at its default."
            )
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    return out


def build_loggers(cfg: DictConfig) -> list[Logger]:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c and "_target_" in c]
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    return loggers


def build_trainer(cfg: DictConfig, loggers: list[Logger]) -> L.Trainer:
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
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
