"""A label-efficiency study inside one `pk-finetune -m`: a fine-tune job that names a pretext
task (`study.task=simclr`) fine-tunes that task's backbone, pretrained once for the whole
study — by the first job that needs it, while any others that need it wait on a file lock.

    pk-finetune -m experiment=label_efficiency study.task=simclr,rotation,null
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from filelock import FileLock
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pretrainkit.config import config_dir
from pretrainkit.errors import BadValueError
from pretrainkit.run.files import (
    ERROR,
    HYDRA_CONFIG,
    HYDRA_DIR,
    HYDRA_OVERRIDES,
    STUDY_PRETRAIN,
    WEIGHTS,
)
from pretrainkit.run.io import write_json
from pretrainkit.run.sweeps import job_overrides, write_error

# The fine-tune's own choices that its pretraining must share, as the job was given them.
SHARED = ("dataset", "backbone", "logger", "paths", "debug")


def _shared_overrides() -> list[str]:
    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    chosen = [f"dataset={hydra.runtime.choices.dataset}"]  # e.g. picked by the experiment
    given = [
        o for o in hydra.overrides.task if o.lstrip("+~").split("=")[0].split(".")[0] in SHARED
    ]
    return chosen + given


def pretrain_overrides(cfg: DictConfig) -> list[str]:
    """The pk-pretrain overrides of the study's pretraining for `cfg.study.task`."""
    study = cfg.study
    overrides = [*_shared_overrides(), f"task={study.task}", f"seed={study.seed}"]
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb and "_target_" in wandb and wandb.get("group"):  # logger=csv leaves a bare group
        overrides.append(f"logger.wandb.group={wandb.group}")
    return overrides + flatten(OmegaConf.to_container(study.pretrain, resolve=True))


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def flatten(settings: Any, prefix: str = "") -> list[str]:
    """`{trainer: {max_epochs: 35}}` -> `["trainer.max_epochs=35"]`: override strings."""
    if not isinstance(settings, dict) or not settings:
        return [f"{prefix}={_value(settings)}"] if prefix else []
    return [
        o
        for k, v in settings.items()
        for o in flatten(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    ]


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """conf/<name>.yaml with `overrides`, inside a running entry point or not."""
    if GlobalHydra.instance().is_initialized():  # inside pk-finetune: the same config search path
        return compose(name, overrides=overrides)
    with initialize_config_dir(config_dir(), version_base="1.3"):
        return compose(name, overrides=overrides)


def study_dir(cfg: DictConfig) -> Path:
    if cfg.study.dir is not None:
        return Path(cfg.study.dir)
    if not HydraConfig.initialized():
        raise BadValueError("study.task is set outside pk-finetune: set study.dir too.")
    return Path(HydraConfig.get().sweep.dir) / STUDY_PRETRAIN


def study_pretrained(cfg: DictConfig) -> str:
    """The directory of `cfg.study.task`'s pretrained backbone, pretraining it first unless
    another job of the study already has (or already failed to)."""
    from pretrainkit.pretrain import pretrain

    task = cfg.study.task
    if cfg.pretrained is not None:
        raise BadValueError(
            f"study.task={task} and pretrained={cfg.pretrained} both name a backbone: a study "
            "pretrains its own. Drop pretrained= (or set study.task=null to fine-tune that one)."
        )
    overrides = pretrain_overrides(cfg)
    key = hashlib.sha256(json.dumps(overrides).encode()).hexdigest()[:8]
    run = study_dir(cfg) / f"{task}-seed{cfg.study.seed}-{key}"
    run.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{run}.lock"):
        if (run / WEIGHTS).is_file():
            return str(run)
        if (run / ERROR).is_file():
            error = json.loads((run / ERROR).read_text())["error"]
            raise RuntimeError(
                f"this study's {task} pretraining failed in an earlier job ({error}); see "
                f"{run / ERROR}. Fix the cause and delete {run} to retry it."
            )
        pre = compose_config("pretrain", [*overrides, f"paths.output_dir={run}"])
        (run / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(pre, run / HYDRA_DIR / HYDRA_CONFIG)
        OmegaConf.save(OmegaConf.create(overrides), run / HYDRA_DIR / HYDRA_OVERRIDES)
        try:
            pretrain(pre)
        except Exception as err:
            write_error(run, err)
            raise
    return str(run)


def claim_scratch(cfg: DictConfig) -> str | None:
    """A study's scratch job does not depend on `study.*` (its pretraining budget or seed), so
    a sweep over those would train the same baseline once per value: the first job with these
    settings claims them; returns the run directory of an earlier claim (skip), else None."""
    overrides = sorted(o for o in job_overrides() if not o.lstrip("+~").startswith("study."))
    key = hashlib.sha256(json.dumps(overrides).encode()).hexdigest()[:12]
    mine = {"run_dir": str(cfg.paths.output_dir), "overrides": overrides}
    earlier = claim_once(study_dir(cfg) / f"scratch-{key}.json", mine)
    return None if earlier is None else earlier["run_dir"]


def claim_once(marker: Path, mine: dict[str, Any]) -> dict[str, Any] | None:
    """The first job of a sweep to reach `marker` writes `mine` into it (under a file lock) and
    gets None; every later one gets what the first wrote."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{marker}.lock"):
        if marker.is_file():
            return json.loads(marker.read_text())
        write_json(marker, mine)
    return None
