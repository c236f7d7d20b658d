"""Read a study tree: one row per finished fine-tune (`metrics.json`), one entry per failed run
(`error.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pretrainkit.report.convergence import converged
from pretrainkit.report.identity import identify
from pretrainkit.run.files import ERROR, EVAL_RESULTS, METRICS

CONVERGED = 0.95  # "converged" = reached this fraction of the final validation accuracy
ROW_KEYS = (
    "method",
    "task",
    "pretrained",
    "backbone",
    "dataset",
    "freeze_backbone",
    "label_fraction",
    "labels_per_class",
    "num_labeled",
    "seed",
    # optional (older runs lack them): identity.py and select.py fall back
    "finetune_mode",
    "lr",
    "weights",
    "pretrain_seed",
    "pretrain_epochs",
    "classical",  # a classical baseline's chosen setting and grid (pretrainkit.baselines)
)
METRIC_KEYS = {
    "test_acc": "test/acc",
    "test_f1": "test/f1",
    "val_acc": "val/acc",
    "val_acc_best": "val/acc_best",
}


def _natural(path: Path) -> list[tuple[int, int | str]]:
    """Sort key putting Hydra's job dirs in job order: 2 before 10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in path.parts]


def val_points(history: dict[str, list[Any]]) -> list[tuple[int, float]]:
    """`(epoch, val/acc)` pairs of a run's history; epochs without a val/acc (None) left out."""
    epochs, accs = history.get("epoch", []), history.get("val/acc", [])
    return [(e, a) for e, a in zip(epochs, accs, strict=False) if a is not None]


def epochs_to_reach(history: dict[str, list[Any]], fraction: float = CONVERGED) -> int | None:
    """The first epoch (1-based, as stored) whose val/acc reaches `fraction` of the last one's;
    None when no epoch has a val/acc."""
    points = val_points(history)
    if not points:
        return None
    final = points[-1][1]
    return next((epoch for epoch, acc in points if acc >= fraction * final), points[-1][0])


def _row(path: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    history = metrics.get("history") or None
    row = {k: metrics.get(k) for k in ROW_KEYS}
    row.update({name: metrics.get(key) for name, key in METRIC_KEYS.items()})
    row.update(
        epochs=history["epoch"][-1] if history and history.get("epoch") else None,
        epochs_to_95=epochs_to_reach(history) if history else None,
        converged=converged(history),
        run_dir=str(path.parent),
        history=history,
        wandb=metrics.get("wandb"),
    )
    return row


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per fine-tune `metrics.json` under `root` (files without a `method` are skipped),
    with its source, mode and display name (`identity.identify`).

    Raises:
        FileNotFoundError: `root` holds no metrics.json, eval.json or error.json.
    """
    rows = []
    for path in sorted(root.rglob(METRICS), key=_natural):
        metrics = json.loads(path.read_text())
        if isinstance(metrics, dict) and metrics.get("method"):
            rows.append(_row(path, metrics))
    if not rows and not any(root.rglob(ERROR)) and not any(root.rglob(EVAL_RESULTS)):
        raise FileNotFoundError(
            f"no metrics.json, eval.json or error.json under {root}: point pk-report at fine-tune "
            "or pk-eval run directories (a sweep's directory)."
        )
    return identify(rows)


def _first_line(path: Path) -> str:
    try:
        return str(json.loads(path.read_text())["error"]).partition("\n")[0]
    except (OSError, ValueError, KeyError, TypeError):
        return "(unreadable error.json)"


def failures(root: Path) -> list[dict[str, str]]:
    """`{"run_dir": relative to root, "error": its one-line error}` per `error.json` under root."""
    return [
        {"run_dir": str(path.parent.relative_to(root)), "error": _first_line(path)}
        for path in sorted(root.rglob(ERROR), key=_natural)
    ]
