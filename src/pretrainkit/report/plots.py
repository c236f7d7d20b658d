"""The report's figures: test accuracy against labels, validation curves pretrained vs
scratch, and the gain over scratch against pretraining epochs. PNG files only (Agg), so they
draw on a node without a display."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pretrainkit.report.collect import val_points
from pretrainkit.report.tables import budget, mean_std
from pretrainkit.run.io import atomic_write

Row = dict[str, Any]
MODES = ("linear", "finetune", "lp_ft")
LINE_STYLES = {"linear": "--", "finetune": "-", "lp_ft": "-."}  # one per mode; color: the source
PANEL = (4.0, 3.0)  # inches per val-curves panel


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: no display needed, whatever the user's default is
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


def plot_accuracy(summary: list[Row], path: Path) -> Path:
    """Test accuracy (%) against labeled examples (log x), one line per method, std bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    try:
        names = sorted({s["name"] for s in summary})
        for method in sorted({s["method"] for s in summary}):
            name, mode = next((s["name"], s["mode"]) for s in summary if s["method"] == method)
            points = sorted(
                (s["num_labeled"], *s["acc"])
                for s in summary
                if s["method"] == method and s["num_labeled"]
            )
            if not points:
                continue
            x, mean, std = zip(*points, strict=True)
            ax.errorbar(
                x, mean, yerr=std, label=method, marker="o", capsize=3,
                color=f"C{names.index(name)}", linestyle=LINE_STYLES.get(mode, ":"),
            )  # fmt: skip
        ax.set_xscale("log")
        ticks = sorted({(s["num_labeled"], s["labels"]) for s in summary if s["num_labeled"]})
        ax.set_xticks([n for n, _ in ticks], [f"{n}\n({labels})" for n, labels in ticks])
        ax.minorticks_off()
        ax.set(xlabel="labeled examples", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
        return _save(fig, path)
    finally:
        plt.close(fig)


def _curve(histories: list[dict[str, list[Any]]]) -> tuple[list[int], list[float], list[float]]:
    """Mean and std of val/acc (%) per epoch over runs (seeds); an epoch any run lacks is
    averaged over the runs that have it."""
    by_epoch: dict[int, list[float]] = defaultdict(list)
    for history in histories:
        for epoch, acc in val_points(history):
            by_epoch[epoch].append(100 * acc)
    epochs = sorted(by_epoch)
    stats = [mean_std(by_epoch[e]) for e in epochs]
    return epochs, [m for m, _ in stats], [s for _, s in stats]


def plot_val_curves(rows: list[Row], path: Path) -> Path | None:
    """Validation accuracy per epoch, one panel per (mode, label budget), one line per source
    with a ±std band over seeds; None (and no file) when no run has a history. Give it the
    chosen-lr runs: lines mixing lrs would show neither."""
    runs = [r for r in rows if r.get("history") and val_points(r["history"])]
    if not runs:
        return None
    budgets = sorted({(r["num_labeled"] or 0, budget(r)) for r in runs})
    modes = [m for m in MODES if any(r["mode"] == m for r in runs)]
    modes += sorted({r["mode"] for r in runs} - set(modes))  # a mode newer than this file
    names = sorted({r["name"] for r in runs})
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(modes), len(budgets), figsize=(PANEL[0] * len(budgets), PANEL[1] * len(modes)),
        squeeze=False, sharey=True, layout="constrained",
    )  # fmt: skip
    try:
        for i, mode in enumerate(modes):
            for j, (num_labeled, labels) in enumerate(budgets):
                ax = axes[i][j]
                panel = [r for r in runs if budget(r) == labels and r["mode"] == mode]
                for k, name in enumerate(names):
                    histories = [r["history"] for r in panel if r["name"] == name]
                    if not histories:
                        continue
                    epochs, mean, std = _curve(histories)
                    low = [m - s for m, s in zip(mean, std, strict=True)]
                    high = [m + s for m, s in zip(mean, std, strict=True)]
                    ax.plot(epochs, mean, color=f"C{k}", label=name)
                    ax.fill_between(epochs, low, high, color=f"C{k}", alpha=0.2)
                ax.set_title(f"{mode}, {labels} ({num_labeled} labeled)")
                ax.set(xlabel="epoch", ylabel="val accuracy (%)" if j == 0 else None)
                ax.xaxis.get_major_locator().set_params(integer=True)  # epochs, not 1.5
                ax.grid(alpha=0.3)
                if panel:
                    ax.legend()
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_gain_vs_pretraining(points: list[Row], path: Path) -> Path | None:
    """Gain over scratch (acc points, std bars) against pretraining epochs, one panel per
    task x mode, one line per label budget; None (and no file) without budget-curve points."""
    if not points:
        return None
    panels = sorted({(p["task"], p["mode"]) for p in points})
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(PANEL[0] * len(panels), PANEL[1]), squeeze=False,
        sharey=True, layout="constrained",
    )  # fmt: skip
    try:
        for ax, (task, mode) in zip(axes[0], panels, strict=True):
            panel = [p for p in points if (p["task"], p["mode"]) == (task, mode)]
            budgets = sorted({(p["num_labeled"] or 0, p["labels"]) for p in panel})
            for k, (_, labels) in enumerate(budgets):
                line = sorted(
                    (p["pretrain_epochs"], *p["gain"]) for p in panel if p["labels"] == labels
                )
                x, mean, std = zip(*line, strict=True)
                ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, color=f"C{k}", label=labels)
            ax.axhline(0, color="grey", linewidth=0.8)  # scratch
            ax.set_title(f"{task}-{mode}")
            ax.set(xlabel="pretraining epochs", ylabel="gain over scratch (acc points)")
            ax.grid(alpha=0.3)
            ax.legend(title="labels")
        return _save(fig, path)
    finally:
        plt.close(fig)
