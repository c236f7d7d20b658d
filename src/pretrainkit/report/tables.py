"""Numbers over seeds: the results summary, what pretraining gained over scratch, convergence."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

Row = dict[str, Any]


def budget(row: Row) -> str:
    """The label budget as people say it: `10/class` or `1%`."""
    if row.get("labels_per_class") is not None:
        return f"{row['labels_per_class']}/class"
    if row.get("label_fraction") is not None:
        return f"{row['label_fraction']:.0%}"
    return "all"


def split_method(method: str) -> tuple[str, str]:
    """`simclr-linear` -> (`simclr`, `linear`)."""
    task, _, mode = method.rpartition("-")
    return task, mode


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _groups(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.get("test_acc") is not None:  # a run that never tested compares with nothing
            groups[(budget(row), row["method"])].append(row)
    return groups


def summarize(rows: list[Row]) -> list[Row]:
    """Test accuracy and macro-F1 (%) mean and std over seeds per (label budget, method),
    sorted by number of labels, then best accuracy first."""
    summary = [
        {
            "labels": labels,
            "num_labeled": members[0]["num_labeled"],
            "method": method,
            "acc": mean_std([100 * m["test_acc"] for m in members]),
            "f1": mean_std([100 * m["test_f1"] for m in members]),
            "seeds": len(members),
        }
        for (labels, method), members in _groups(rows).items()
    ]
    return sorted(summary, key=lambda s: (s["num_labeled"] or 0, -s["acc"][0]))


def _acc_by_seed(members: list[Row]) -> dict[Any, float]:
    by_seed: dict[Any, list[float]] = defaultdict(list)
    for m in members:
        by_seed[m["seed"]].append(100 * m["test_acc"])
    return {seed: statistics.fmean(accs) for seed, accs in by_seed.items()}


def gains(rows: list[Row]) -> list[Row]:
    """Test-accuracy points each pretrained method gains over scratch in the same mode.

    Runs with the same seed saw the same labeled subset, so the gain is the mean (and std) of
    per-seed differences; without a common seed, the difference of means (std None).
    """
    groups = _groups(rows)
    result = []
    for (labels, method), members in groups.items():
        task, mode = split_method(method)
        baseline = f"scratch-{mode}"
        if task == "scratch" or (labels, baseline) not in groups:
            continue
        ours, theirs = _acc_by_seed(members), _acc_by_seed(groups[(labels, baseline)])
        common = [seed for seed in ours if seed in theirs]
        if common:
            gain: tuple[float, float | None] = mean_std([ours[s] - theirs[s] for s in common])
        else:
            gain = (statistics.fmean(ours.values()) - statistics.fmean(theirs.values()), None)
        result.append(
            {
                "labels": labels,
                "num_labeled": members[0]["num_labeled"],
                "method": method,
                "baseline": baseline,
                "gain": gain,
                "seeds": len(common),
            }
        )
    return sorted(result, key=lambda g: (g["num_labeled"] or 0, g["method"]))


def convergence(rows: list[Row]) -> list[Row]:
    """Epochs to reach 95% of the final validation accuracy (mean, std over seeds) and the
    mean number of epochs run, per (label budget, method); runs without a history left out."""
    with_history = [r for r in rows if r.get("epochs_to_95") is not None]
    result = [
        {
            "labels": labels,
            "num_labeled": members[0]["num_labeled"],
            "method": method,
            "epochs_to_95": mean_std([m["epochs_to_95"] for m in members]),
            "epochs": statistics.fmean(m["epochs"] for m in members),
            "seeds": len(members),
        }
        for (labels, method), members in _groups(with_history).items()
    ]
    return sorted(result, key=lambda c: (c["num_labeled"] or 0, c["method"]))
