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
        "dataset": cfg.dataset.name,
        "freeze_backbone": mode == "linear",
        "lr": float(cfg.optim.optimizer.lr),
        "label_fraction": cfg.label_fraction if cfg.labels_per_class is None else None,
        "labels_per_class": cfg.labels_per_class,
        "num_labeled": num_labeled,
        "seed": cfg.seed,
    }


def tags(result: dict[str, Any]) -> list[str]:
    """W&B tags that name the run's place in a study: task, labels, freeze, seed."""
    labels = (
        f"labels_per_class:{result['labels_per_class']}"
        if result["labels_per_class"] is not None
        else f"fraction:{result['label_fraction']:g}"
    )
    mode = f"mode:{result['finetune_mode']}"
    return [
        f"task:{result['task']}",
        labels,
        mode,
        f"lr:{result['lr']:g}",
        f"seed:{result['seed']}",
    ]
