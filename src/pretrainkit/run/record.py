"""What a fine-tune run records about itself: the description written beside its numbers in
`metrics.json` (what pk-report groups and compares by), and the W&B tags that place it in a
study."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from pretrainkit.run.export import locate


def describe(
    cfg: DictConfig, mode: str, info: dict[str, Any], backbone: Any, num_labeled: int
) -> dict[str, Any]:
    """What produced a fine-tune run's numbers (`mode`: its finetune_mode): written beside them
    in metrics.json. `weights` (the file) tells pretraining sources apart, also two bare files
    of one task."""
    task = info.get("task", "unknown" if cfg.pretrained else "scratch")  # bare weights: unknown
    weights = locate(cfg.pretrained).resolve() if cfg.pretrained else None
    pretraining = info.get("config") or {}
    return {
        "method": f"{task}-{mode}",
        "finetune_mode": mode,
        "pretrained": str(weights.parent) if weights else None,
        "weights": str(weights) if weights else None,
        "task": task,
        "pretrain_seed": pretraining.get("seed"),
        "pretrain_epochs": (pretraining.get("trainer") or {}).get("max_epochs"),
        "backbone": backbone.spec.get("name")
        or backbone.spec.get("config", {}).get("model_type")
        or backbone.spec["_target_"].rsplit(".", 1)[-1],
        "freeze_backbone": mode == "linear",
        "lr": float(cfg.optim.optimizer.lr),
        "pooling": getattr(backbone, "pooling", None),  # a text backbone's
        "layer_decay": cfg.model.get("layer_decay") if mode != "linear" and weights else None,
        **_data(cfg, num_labeled),
    }


def describe_classical(
    cfg: DictConfig, baseline: Any, fitted: Any, num_labeled: int
) -> dict[str, Any]:
    """`describe` for a classical baseline (`pretrainkit.baselines`): its features stand where
    a pretext task stands and its classifier where the fine-tune mode does (`bow-logreg`); it
    has no backbone, pretraining or learning rate. `classical` (the setting chosen on
    validation, and every one tried) marks it for pk-report, which shows it as a row of its
    own, neither pretrained nor scratch."""
    none = ("pretrained", "weights", "pretrain_seed", "pretrain_epochs", "backbone", "lr")
    none += ("pooling", "layer_decay")
    return {
        "method": baseline.name,
        "finetune_mode": baseline.classifier,
        "task": baseline.features,
        **dict.fromkeys(none),
        "freeze_backbone": None,
        "classical": {"chosen": fitted.chosen, "tried": fitted.tried},
        **_data(cfg, num_labeled),
    }


def _data(cfg: DictConfig, num_labeled: int) -> dict[str, Any]:
    """The data and labels a run learned from."""
    return {
        "dataset": cfg.dataset.name,
        "label_fraction": cfg.label_fraction if cfg.labels_per_class is None else None,
        "labels_per_class": cfg.labels_per_class,
        "num_labeled": num_labeled,
        "seed": cfg.seed,
    }


def tags(result: dict[str, Any]) -> list[str]:
    """W&B tags that name the run's place in a study: task, labels, mode, lr, seed (and
    `classical` for a classical baseline)."""
    labels = (
        f"labels_per_class:{result['labels_per_class']}"
        if result["labels_per_class"] is not None
        else f"fraction:{result['label_fraction']:g}"
    )
    mode = f"mode:{result['finetune_mode']}"
    lr = [] if result.get("lr") is None else [f"lr:{result['lr']:g}"]  # a classical baseline: none
    classical = ["classical"] if result.get("classical") else []
    return [f"task:{result['task']}", labels, mode, *lr, f"seed:{result['seed']}", *classical]
