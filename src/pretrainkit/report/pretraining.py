"""The pretrainings behind a report's rows: each one's per-epoch curve (`history.json`,
written by pk-pretrain), so the report shows how far pretraining got (k-NN accuracy against
minutes) beside what it bought."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pretrainkit.run.files import HISTORY

Row = dict[str, Any]
CURVE_KEY = "val/knn_acc"


def _values(history: dict[str, list[Any]], key: str) -> list[Any]:
    return list(history.get(key) or [])


def pretraining_curves(rows: list[Row]) -> list[Row]:
    """One entry per pretraining source with a `history.json` beside its weights: its name in
    the report, epochs, minutes, and the k-NN accuracy per epoch (None where not measured)."""
    seen: dict[str, Row] = {}
    for row in rows:
        run_dir = row.get("pretrained")
        if not run_dir or run_dir in seen:
            continue
        path = Path(run_dir) / HISTORY
        try:
            history = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(history, dict) or not history.get("epoch"):
            continue
        seen[run_dir] = {
            "name": row.get("name") or row.get("task"),
            "task": row.get("task"),
            "run_dir": run_dir,
            "epoch": _values(history, "epoch"),
            "minutes": _values(history, "minutes"),
            "knn_acc": _values(history, CURVE_KEY),
            "loss": _values(history, "train/loss"),
        }
    return sorted(seen.values(), key=lambda c: str(c["name"]))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def pretraining_table(curves: list[Row]) -> str:
    """Markdown: per pretraining, its epochs, minutes and k-NN accuracy first → best → last."""
    lines = [
        "| pretraining | epochs | minutes | k-NN acc % (first → best → last epoch) |",
        "|---|---|---|---|",
    ]
    for c in curves:
        knn = [v for v in c["knn_acc"] if v is not None]
        trend = f"{_pct(knn[0])} → {_pct(max(knn))} → {_pct(knn[-1])}" if knn else "n/a"
        minutes = f"{c['minutes'][-1]:.1f}" if c["minutes"] else "n/a"
        lines.append(f"| {c['name']} | {c['epoch'][-1]} | {minutes} | {trend} |")
    return "\n".join(lines) + "\n"


PRETRAINING_INTRO = (
    "Each pretraining's online k-NN accuracy (`val/knn_acc`: weighted 20-NN on frozen features "
    "of a labeled monitor set drawn from the train split) after each of its epochs, from its "
    "`history.json`; `pretraining_knn.png` plots it against minutes of pretraining.\n"
)


def plot_pretraining(curves: list[Row], path: Path) -> Path | None:
    """k-NN accuracy (%) against pretraining minutes, one line per pretraining; None (and no
    file) when no curve has a k-NN value."""
    drawn = [c for c in curves if any(v is not None for v in c["knn_acc"])]
    if not drawn:
        return None
    from pretrainkit.report.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    try:
        for k, c in enumerate(drawn):
            x = c["minutes"] if len(c["minutes"]) == len(c["knn_acc"]) else c["epoch"]
            points = [(t, 100 * v) for t, v in zip(x, c["knn_acc"], strict=True) if v is not None]
            ax.plot(*zip(*points, strict=True), marker="o", color=f"C{k}", label=c["name"])
        timed = all(len(c["minutes"]) == len(c["knn_acc"]) for c in drawn)
        ax.set(xlabel="minutes of pretraining" if timed else "epochs", ylabel="k-NN accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
        return _save(fig, path)
    finally:
        plt.close(fig)
