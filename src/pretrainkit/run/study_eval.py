"""A study's frozen rows under pk-eval's standard protocol (`study.eval=true`): a linear-probe
job also evaluates its frozen backbone with pk-eval (weighted k-NN grid and linear probes at
several lrs, each chosen on validation) on the same labeled split, once per backbone, label
budget and seed however many lrs the sweep tries. A scratch job evaluates its own randomly
initialised backbone: the reference every pretrained backbone's numbers are read against.
The result lies in the job's run directory, `eval/`, where pk-report finds it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, ValidationError

from pretrainkit.callbacks.rng import rng_states, set_rng_states
from pretrainkit.config.checks import ConfigError
from pretrainkit.evaluate.shots import check_shot_settings
from pretrainkit.run.console import say
from pretrainkit.run.files import EVAL_RESULTS
from pretrainkit.run.study import claim_once, compose_config, study_dir
from pretrainkit.run.sweeps import in_multirun, write_error

log = logging.getLogger(__name__)

EVAL_DIR = "eval"  # in the job's run directory
RANDOM_INIT = "random_init"  # the task name a scratch job's exported backbone carries
# What the evaluation shares with the fine-tune job, copied resolved: the same data, splits,
# label draw (seed) and evaluation transform.
SHARED = ("modality", "backbone", "dataset", "data", "augment", "label_fraction",
          "labels_per_class", "seed")  # fmt: skip


def wanted(cfg: DictConfig, mode: str) -> bool:
    """Whether this job evaluates its backbone: `study.eval` is on and the backbone stays frozen."""
    return bool(cfg.study.eval) and mode == "linear"


def with_settings(evaluated: DictConfig, cfg: DictConfig) -> DictConfig:
    """pk-eval's config `evaluated` with `study.eval_settings` merged onto its `eval` node; an
    unknown key is refused in one line."""
    try:
        merged = OmegaConf.merge(evaluated.eval, cfg.study.eval_settings)
    except (ConfigKeyError, ValidationError) as err:
        raise ConfigError(
            f"study.eval_settings: {str(err).splitlines()[0]}; its keys are eval.yaml's `eval` "
            f"settings ({', '.join(evaluated.eval)}), e.g. study.eval_settings.shots=[1,5]."
        ) from None
    with open_dict(evaluated):
        evaluated.eval = merged
    return evaluated


def check(cfg: DictConfig) -> None:
    """pk-eval's settings for a study's evaluations, checked before any pretraining or
    fine-tuning: keys, the protocols' grids, the shot counts."""
    from pretrainkit.eval import build_protocols

    evaluated = with_settings(compose_config("eval", ["pretrained=unused"]), cfg)
    build_protocols(evaluated)
    check_shot_settings(evaluated.eval.shots, evaluated.eval.shot_seeds)


def eval_key(cfg: DictConfig) -> str:
    """What makes two jobs' evaluations the same: the backbone (a pretrained one's weights file,
    or the scratch architecture and its init seed), the data and labels, the eval settings."""
    node = {k: OmegaConf.to_container(cfg[k], resolve=True) if k in ("backbone", "dataset",
            "data") else cfg[k] for k in SHARED if k not in ("augment", "modality")}  # fmt: skip
    node["pretrained"] = str(Path(cfg.pretrained).resolve()) if cfg.pretrained else None
    node["settings"] = OmegaConf.to_container(cfg.study.eval_settings, resolve=True)
    return hashlib.sha256(json.dumps(node, sort_keys=True, default=str).encode()).hexdigest()[:12]


def claim(cfg: DictConfig, out: Path) -> Path | None:
    """In a sweep the first job with these settings claims the evaluation: returns the run
    directory of an earlier claim (skip), else None. A single run always evaluates."""
    if not in_multirun() and cfg.study.dir is None:
        return None
    earlier = claim_once(study_dir(cfg) / f"eval-{eval_key(cfg)}.json", {"eval_dir": str(out)})
    return None if earlier is None else Path(earlier["eval_dir"])


def eval_config(cfg: DictConfig, pretrained: Path, out: Path) -> DictConfig:
    """pk-eval's config for this job: eval.yaml with the job's logger choice and W&B group, its
    data nodes copied, `study.eval_settings` merged onto `eval`, writing into `out`."""
    overrides = [f"pretrained={pretrained}", f"paths.output_dir={out}"]
    if HydraConfig.initialized():
        overrides.append(f"logger={HydraConfig.get().runtime.choices.get('logger', 'wandb')}")
    evaluated = compose_config("eval", overrides)
    with open_dict(evaluated):
        for key in SHARED:
            value = cfg[key]
            evaluated[key] = OmegaConf.create(
                OmegaConf.to_container(value, resolve=True)
            ) if OmegaConf.is_config(value) else value  # fmt: skip
        evaluated.paths.cache_dir = cfg.paths.cache_dir
        evaluated.verbose = cfg.verbose
        wandb = (cfg.get("logger") or {}).get("wandb")
        if wandb and "_target_" in wandb and "wandb" in (evaluated.get("logger") or {}):
            for key in ("project", "entity", "group", "mode"):
                evaluated.logger.wandb[key] = wandb.get(key)
    return with_settings(evaluated, cfg)


def study_eval(cfg: DictConfig, backbone: Any, run_dir: Path) -> Path | None:
    """Evaluate this job's frozen backbone with pk-eval into `<run_dir>/eval`, unless another
    job of the sweep already has; the job's own random streams are left as they were. A failed
    evaluation leaves its error.json there (the sweep names it) and the fine-tune goes on."""
    from pretrainkit.eval import evaluate
    from pretrainkit.run.export import save_backbone

    out = run_dir / EVAL_DIR
    if (earlier := claim(cfg, out)) is not None:
        log.info("pk-eval of this backbone and labels already in %s", earlier)
        return None
    states = rng_states()
    try:
        pretrained = Path(cfg.pretrained) if cfg.pretrained is not None else out / RANDOM_INIT
        if cfg.pretrained is None:  # the scratch row's own initial weights, as pk-eval reads them
            meta: dict[str, Any] = {"task": RANDOM_INIT, "modality": cfg.modality,
                                    "dataset": cfg.dataset.name}  # fmt: skip
            if cfg.modality == "image":
                meta |= {"in_chans": cfg.dataset.in_chans, "image_size": cfg.dataset.image_size}
            save_backbone(backbone, pretrained, meta)
        say(f"finetune: pk-eval of the frozen backbone first (study.eval=true), into {out}")
        evaluate(eval_config(cfg, pretrained, out))
    except Exception as err:  # the fine-tune still runs; the sweep reports this failure
        write_error(out, err)
        log.exception("pk-eval of this job's backbone failed")
        say(f"finetune: pk-eval failed ({type(err).__name__}: {err}); see {out / 'error.json'}")
    finally:
        set_rng_states(states)
    return out if (out / EVAL_RESULTS).is_file() else None
