"""Entry point three: the standard offline evaluation of a frozen pretrained backbone. Its
features are computed once and cached; a weighted k-NN grid and linear probes at several
learning rates are chosen on validation and scored on test, at the label budget and N shots.

pk-eval outputs/pretrain/<run>
pk-eval outputs/pretrain/<run> label_fraction=0.1 eval.shots=[1,5,10]
pk-eval model/backbone.safetensors backbone=small_cnn dataset=digits logger=none
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pretrainkit.config import config_dir
from pretrainkit.config.checks import ConfigError, check_keys, check_target, target_nodes
from pretrainkit.config.rules import EXAMPLES, check_paths
from pretrainkit.config.schema import EvalConfig
from pretrainkit.data.features import Features
from pretrainkit.errors import BadValueError, RunExistsError, UserError, exit_on_user_error
from pretrainkit.evaluate.shots import (
    check_shot_settings,
    check_shots_fit,
    labeled_train_targets,
    shot_indices,
)
from pretrainkit.evaluate.table import Row, as_json, markdown, metrics, records
from pretrainkit.features import data_digest, probe_features
from pretrainkit.finetune import check_input_shape, data_plan
from pretrainkit.report.jsonsafe import finite
from pretrainkit.run.console import backbone_name, duration, metrics_line, say
from pretrainkit.run.export import load_backbone, locate
from pretrainkit.run.files import EVAL_RESULTS, EVAL_TABLE, SPEC
from pretrainkit.run.io import atomic_write, write_json
from pretrainkit.run.steps import build_loggers, finish
from pretrainkit.run.sweeps import keep_sweeping
from pretrainkit.run.tracking import tag_run, use_backbone, wandb_run
from pretrainkit.run.wandb_mode import private_wandb_service

log = logging.getLogger(__name__)

USAGE = "pk-eval <pretrain run directory | backbone.safetensors> [key=value ...]"


def check_config(cfg: DictConfig) -> None:
    """The config's one-line errors, before any work: keys, types and ranges, `_target_`
    arguments, the backbone named and every path, the shot counts."""
    if OmegaConf.is_missing(cfg, "pretrained"):
        raise ConfigError(f"which backbone? {USAGE} (or pretrained=<it>)")
    check_keys(cfg, EvalConfig)
    for path, node in target_nodes(cfg):
        check_target(path, node)
    try:
        locate(cfg.pretrained)
    except (OSError, ValueError) as err:
        raise ConfigError(str(err)) from None
    check_paths(cfg)
    check_shot_settings(cfg.eval.shots, cfg.eval.shot_seeds)
    device(cfg)  # eval.device=cuda without one


def build_protocols(cfg: DictConfig) -> list[Any]:
    """`eval.knn` and `eval.linear` (each unless null); their grids are checked as they are
    built (an empty grid is refused in one line)."""
    protocols = []
    for name in ("knn", "linear"):
        if cfg.eval[name] is None:
            continue
        try:
            protocols.append(instantiate(cfg.eval[name]))
        except InstantiationException as err:
            if isinstance(err.__cause__, UserError):
                raise err.__cause__ from None
            raise
    if not protocols:
        raise ConfigError("eval.knn=null and eval.linear=null: nothing to evaluate; keep one.")
    return protocols


def start(cfg: DictConfig) -> Path:
    """The run directory, refused if it already holds an evaluation; seed everything."""
    out = Path(cfg.paths.output_dir)
    if (out / EVAL_RESULTS).exists():
        raise RunExistsError(
            f"{out} already holds an evaluation ({EVAL_RESULTS}); nothing was overwritten. "
            "Choose a new directory (hydra.run.dir=...) or leave hydra.run.dir at its default."
        )
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return out


def load(cfg: DictConfig) -> tuple[Any, dict[str, Any]]:
    """The backbone `pretrained` names, in eval mode, refused for another kind of data."""
    backbone, info = load_backbone(cfg.pretrained, cfg.backbone)
    modality = info.get("modality", getattr(backbone, "modality", "image"))
    if modality != cfg.modality:
        example = EXAMPLES.get(modality, EXAMPLES["image"])["dataset"]
        raise BadValueError(
            f"pretrained={cfg.pretrained} is a backbone for {modality} but dataset="
            f"{cfg.dataset.name} holds {cfg.modality}; evaluate it on a {modality} dataset "
            f"(e.g. dataset={example})."
        )
    if (pooling := cfg.backbone.get("pooling")) is not None:  # weightless: this run's choice
        backbone.use_pooling(pooling)
    if "in_chans" in info and info["in_chans"] != cfg.dataset.in_chans:
        raise BadValueError(
            f"pretrained={cfg.pretrained} was trained on {info['in_chans']}-channel images but "
            f"dataset={cfg.dataset.name} has {cfg.dataset.in_chans}; set "
            f"dataset.in_chans={info['in_chans']} or pick a backbone pretrained on matching images."
        )
    return backbone.eval(), info


def device(cfg: DictConfig) -> torch.device:
    """Where features are computed and probes trained (`eval.device`)."""
    if cfg.eval.device == "cuda" and not torch.cuda.is_available():
        raise BadValueError("eval.device=cuda but torch sees no CUDA device; use eval.device=auto.")
    cuda = cfg.eval.device in ("auto", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if cuda else "cpu")


def cached_features(
    cfg: DictConfig, backbone: Any, datamodule: Any, where: torch.device
) -> tuple[Features, int]:
    """train/val/test features (`pretrainkit.features`: keyed by the backbone's weights and
    spec, the data and transform settings and each split's indices; atomic writes under a
    lock), and how many of the three splits were read from the cache."""
    cache = Path(cfg.eval.cache_dir) if cfg.eval.cache_dir is not None else None
    before = set(cache.glob("*.pt")) if cache is not None and cache.is_dir() else set()
    key = data_digest(
        OmegaConf.to_container(cfg.data, resolve=True),  # type: ignore[arg-type]
        OmegaConf.to_container(cfg.dataset, resolve=True),  # type: ignore[arg-type]
    )
    features = probe_features(backbone, datamodule, key, cache, where)
    made = len(set(cache.glob("*.pt")) - before) if cache is not None else len(features)
    return features, len(features) - made


def score(
    protocols: list[Any],
    features: Features,
    num_classes: int,
    cfg: DictConfig,
    where: torch.device,
) -> list[Row]:
    """Every protocol on the labeled training set of the run's budget, then on each shot
    count's draws; validation and test are the same for all."""
    train, val, test = (
        tuple(t.to(where) for t in features[split]) for split in ("train", "val", "test")
    )
    labels = budget(cfg)
    rows = []
    for protocol in protocols:
        outcome = protocol.run(train, val, test, num_classes)
        log.info(
            "%s at %s: chose %s; tried %s", protocol.name, labels, outcome.chosen, outcome.tried
        )
        rows.append(Row(protocol.name, labels, len(train[1]), None, None, [outcome]))
    targets, seeds = train[1].cpu().numpy(), list(cfg.eval.shot_seeds)
    for shots in cfg.eval.shots:
        draws = [torch.as_tensor(shot_indices(targets, shots, s), device=where) for s in seeds]
        for protocol in protocols:
            outcomes = [
                protocol.run((train[0][i], train[1][i]), val, test, num_classes) for i in draws
            ]
            for seed, o in zip(seeds, outcomes, strict=True):
                log.info("%s %d-shot seed %d: chose %s; tried %s", o.protocol, shots, seed,
                         o.chosen, o.tried)  # fmt: skip
            rows.append(Row(protocol.name, f"{shots}-shot", len(draws[0]), shots, seeds, outcomes))
    return rows


def describe(
    cfg: DictConfig, info: dict[str, Any], backbone: Any, features: Features
) -> dict[str, Any]:
    """What produced an evaluation's numbers, written beside them in eval.json."""
    weights = locate(cfg.pretrained).resolve()
    pretraining = info.get("config") or {}
    linear = cfg.eval.linear
    return {
        "pretrained": str(weights.parent),
        "weights": str(weights),
        "task": info.get("task", "unknown"),  # a bare weights file: unknown
        "pretrain_seed": pretraining.get("seed"),
        "pretrain_epochs": (pretraining.get("trainer") or {}).get("max_epochs"),
        "backbone": backbone_name(backbone.spec),
        "feature_dim": int(features["train"][0].shape[1]),
        "dataset": cfg.dataset.name,
        "label_fraction": cfg.label_fraction if cfg.labels_per_class is None else None,
        "labels_per_class": cfg.labels_per_class,
        "num_labeled": len(features["train"][1]),
        "num_val": len(features["val"][1]),
        "num_test": len(features["test"][1]),
        "seed": cfg.seed,
        "standardize": None if linear is None else bool(linear.standardize),
    }


def track(cfg: DictConfig, info: dict[str, Any], about: dict[str, Any], rows: list[Row]) -> Any:
    """The run's W&B run (offline without a login; none with logger=none): the config, the
    metrics, the table, the pretraining's backbone artifact as its input. Returns where it is."""
    loggers = build_loggers(cfg)
    if info.get("wandb"):
        weights = locate(cfg.pretrained)
        use_backbone(loggers, info["wandb"]["artifact"], [weights, weights.with_name(SPEC)], info)
    for logger in loggers:
        logger.log_metrics(metrics(rows), step=0)
    if (run := wandb_run(loggers)) is not None:
        import wandb

        run.log({"eval/results": wandb.Table(*records(rows))})
    labels = (
        f"labels_per_class:{cfg.labels_per_class}"
        if cfg.labels_per_class is not None
        else f"fraction:{cfg.label_fraction:g}"
    )
    task, seed = about["task"], cfg.seed  # the logger's own tags name the job type, eval
    tags = [f"task:{task}", f"dataset:{cfg.dataset.name}", labels, f"seed:{seed}"]
    where = tag_run(loggers, tags, {"run": about})
    finish(loggers)
    return where


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate the frozen backbone as `cfg` says; write eval.json and eval.md into the run
    directory and return eval.json's content."""
    check_config(cfg)  # a bad key, value, path or grid fails here, before any work
    protocols = build_protocols(cfg)
    backbone, info = load(cfg)  # and a backbone for other data, or the data's own faults
    datamodule = instantiate(cfg.data)
    targets = labeled_train_targets(datamodule)
    check_shots_fit(cfg.eval.shots, targets, budget(cfg))
    check_input_shape(backbone, cfg, datamodule)
    started = time.monotonic()
    out = start(cfg)
    say(f"eval: {plan(cfg, protocols)}; outputs in {out}")
    where, extracting = device(cfg), time.monotonic()
    features, reused = cached_features(cfg, backbone, datamodule, where)
    assert torch.equal(features["train"][1], torch.as_tensor(targets)), "train split mismatch"
    seconds = time.monotonic() - extracting
    say(features_line(features, reused, cfg.eval.cache_dir, seconds))
    rows = score(protocols, features, datamodule.num_classes, cfg, where)
    table = markdown(rows)
    about = describe(cfg, info, backbone, features)
    result = {**about, "features_reused": reused, "metrics": metrics(rows)}
    result["results"] = [as_json(r) for r in rows]
    document = f"{intro(cfg, about)}\n\n{table}"
    atomic_write(out / EVAL_TABLE, lambda tmp: Path(tmp).write_text(document))
    result["wandb"] = track(cfg, info, about, rows)
    result = finite(result)
    write_json(out / EVAL_RESULTS, result)
    for line in table.splitlines():
        say(line)
    shown = metrics_line(result["metrics"], ["test/knn_acc", "test/linear_acc"])
    took = duration(time.monotonic() - started)
    say(f"eval: done in {took}: {shown}; table in {out / EVAL_TABLE}")
    return result


def intro(cfg: DictConfig, about: dict[str, Any]) -> str:
    """eval.md's first paragraph: what was evaluated, and how each setting was chosen."""
    how = []
    if cfg.eval.knn is not None:
        how.append("weighted k-NN (cosine similarity, votes exp(similarity / T))")
    if (linear := cfg.eval.linear) is not None:
        scaled = "standardised" if linear.standardize else "raw"
        how.append(f"linear probes ({scaled} features, SGD, {linear.epochs} epochs)")
    return (
        f"Frozen `{about['task']}` backbone ({about['backbone']}, {about['feature_dim']}-d "
        f"features) of {about['weights']} on {about['dataset']}: {' and '.join(how)}. Each "
        f"setting is chosen on validation accuracy ({about['num_val']} examples) and only the "
        f"chosen one is scored on test ({about['num_test']}); shot rows give mean ± std over "
        "their seeds."
    )


def budget(cfg: DictConfig) -> str:
    """`100% of the labels` or `10 labels per class`: the label budget of the run."""
    if cfg.labels_per_class is not None:
        return f"{cfg.labels_per_class} labels per class"
    return f"{100 * cfg.label_fraction:g}% of the labels"


def features_line(features: Features, reused: int, cache: str | None, seconds: float) -> str:
    sizes = " / ".join(f"{len(features[s][1]):,} {s}" for s in ("train", "val", "test"))
    if cache is None:
        how = f"computed in {duration(seconds)} (eval.cache_dir=null: not kept)"
    elif reused == len(features):
        how = f"read from the cache in {cache}"
    else:
        how = f"{len(features) - reused} of {len(features)} splits computed in {duration(seconds)}, cached in {cache}"
    return f"eval: features of {sizes} examples: {how}"


def plan(cfg: DictConfig, protocols: list[Any]) -> str:
    """What an evaluation does, in a few words: which protocols of what, on which labels."""
    names = " and ".join({"knn": "k-NN", "linear": "linear probes"}[p.name] for p in protocols)
    shots = ""
    if cfg.eval.shots:
        counts = "/".join(str(n) for n in cfg.eval.shots)
        seeds = len(cfg.eval.shot_seeds)
        shots = f" and {counts}-shot x {seeds} seed{'' if seeds == 1 else 's'}"
    return f"{names} of {cfg.pretrained} on {data_plan(cfg)}{shots}"


def positional(args: list[str]) -> list[str]:
    """`pk-eval <run or file> ...`: the first argument that is neither an override nor a flag
    (nor a flag's value) becomes `pretrained=<it>`, quoted where Hydra's grammar needs it."""
    takes_value = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name",
                   "-cn", "--config-dir", "-cd", "--info", "-i", "--experimental-rerun"}  # fmt: skip
    for i, arg in enumerate(args):
        if arg.startswith("-") or "=" in arg or (i and args[i - 1] in takes_value):
            continue
        plain = all(c.isalnum() or c in "/._-~+@" for c in arg)
        value = arg if plain else "'" + arg.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return [*args[:i], f"pretrained={value}", *args[i + 1 :]]
    return args


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
@exit_on_user_error
@keep_sweeping
def hydra_main(cfg: DictConfig) -> float | None:
    result = evaluate(cfg)
    return result["metrics"].get(cfg.get("optimized_metric") or "")


def main() -> None:
    """`pk-eval`: a run of its own W&B service, the backbone as a first argument, then Hydra's
    command line."""
    private_wandb_service()
    sys.argv[1:] = positional(sys.argv[1:])
    hydra_main()


if __name__ == "__main__":
    main()
