"""What a run continues from: `resume=<run dir>`, or its own directory's last checkpoint after a
requeue (auto_resume), or nothing — in which case its directory must hold no run."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from pretrainkit.errors import UserError
from pretrainkit.run.files import (
    CHECKPOINTS,
    FINISHED,
    HPC_CKPT_GLOB,
    HYDRA_CONFIG,
    HYDRA_DIR,
    LAST_CKPT,
    STEP_CKPT,
)

log = logging.getLogger(__name__)


class ResumeError(UserError, ValueError):
    """A run that cannot be resumed as asked."""


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest of `checkpoints/last.ckpt` (every epoch), `checkpoints/step.ckpt` (every N
    steps) and Lightning's SLURM `hpc_ckpt_*.ckpt`."""
    ckpts = run_dir / CHECKPOINTS
    found = [ckpts / LAST_CKPT, ckpts / STEP_CKPT, *run_dir.glob(HPC_CKPT_GLOB)]
    found = [p for p in found if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def finished(run_dir: Path) -> list[str]:
    return [name for name in FINISHED if (run_dir / name).exists()]


def check_resumable(run_dir: Path) -> Path:
    """`run_dir`'s checkpoint to continue from, or a ResumeError saying why there is none."""
    if not run_dir.is_dir() or _made_by_this_launch(run_dir):
        raise ResumeError(
            f"resume={run_dir}: no such run directory; give the directory of the run to continue "
            "(outputs/<pretrain|finetune>/<time>)."
        )
    if done := finished(run_dir):
        raise ResumeError(
            f"resume={run_dir}: that run finished ({', '.join(done)}); nothing was changed. To "
            f"train it further, start a new run from its state: ckpt_path={run_dir}/checkpoints/"
            "last.ckpt trainer.max_epochs=<more>."
        )
    ckpt = last_checkpoint(run_dir)
    if ckpt is None:
        raise ResumeError(
            f"resume={run_dir}: it holds no checkpoints/last.ckpt (it stopped before its first "
            "save); start it again instead."
        )
    return ckpt


def _made_by_this_launch(run_dir: Path) -> bool:
    """Whether `run_dir` holds only what Hydra writes at launch (`.hydra/resumed-<time>/`, the job's
    log): it did not exist before `resume=` named it. Then it is removed again."""
    hydra_dir = run_dir / HYDRA_DIR
    entries = list(run_dir.iterdir())
    launches = list(hydra_dir.iterdir()) if hydra_dir.is_dir() else []
    ours = all(e == hydra_dir or (e.is_file() and e.suffix == ".log") for e in entries)
    made = launches and all(p.is_dir() and p.name.startswith("resumed-") for p in launches)
    if not (ours and made):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint this run continues from (None: a fresh run)."""
    if cfg.get("resume"):
        return check_resumable(Path(cfg.resume))
    if cfg.get("auto_resume", True) and not finished(run_dir):
        # the same directory again (a requeued SLURM job, a relaunch with hydra.run.dir=...)
        return last_checkpoint(run_dir)
    return None


def resumed_config(cfg: DictConfig) -> DictConfig:
    """For `resume=<run dir>`: the run's own saved config, with this command line's plain
    `key=value` overrides applied on top (e.g. trainer.max_epochs=200); config groups
    (task=..., backbone=...) cannot change under a checkpoint."""
    run_dir = Path(cfg.resume)
    check_resumable(run_dir)
    saved = run_dir / HYDRA_DIR / HYDRA_CONFIG
    if not saved.is_file():
        raise ResumeError(f"resume={run_dir}: {saved} is missing, so its config is unknown.")
    resumed = OmegaConf.load(saved)
    assert isinstance(resumed, DictConfig)
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key in ("resume", "auto_resume") or key.startswith("hydra."):
            continue
        if key in choices:
            raise ResumeError(
                f"resume={run_dir} with {override.input_line}: a resumed run keeps its config "
                f"groups ({key}={choices[key]} when it started); start a new run to change it."
            )
        OmegaConf.update(resumed, key, override.value(), force_add=override.is_add())
        log.info("resume: %s (was %s in the run's config)", override.input_line, key)
    with open_dict(resumed):
        resumed.resume = str(run_dir)
        resumed.verbose = cfg.get("verbose", False)  # this launch's terminal, not the run's
    return resumed
