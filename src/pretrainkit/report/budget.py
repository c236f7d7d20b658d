"""How much pretraining is enough: the gain over scratch against pretraining epochs, for each
pretrained task x mode whose sources span two or more pretraining budgets."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pretrainkit.report.identity import UNKNOWN, is_scratch
from pretrainkit.report.select import Key
from pretrainkit.report.tables import baseline_key, by_seed, groups, mean_std, paired

Row = dict[str, Any]


def _epochs(members: list[Row]) -> int | None:
    return next(
        (m["pretrain_epochs"] for m in members if m.get("pretrain_epochs") is not None), None
    )


def _point(keys: list[Key], grouped: dict[Key, list[Row]]) -> Row | None:
    """Gain and accuracy pooled over the sources (pretrain seeds) of one budget point: each
    source is paired with scratch on its own fine-tune seeds first."""
    diffs, accs = [], []
    for key in keys:
        ours = by_seed(grouped[key])
        accs += ours.values()
        if baseline_key(key) in grouped:
            diffs += paired(ours, by_seed(grouped[baseline_key(key)]))
    if not diffs:
        return None
    pretrain_seeds = {m.get("pretrain_seed") for k in keys for m in grouped[k]}
    return {
        "gain": mean_std(diffs), "pairs": len(diffs), "acc": mean_std(accs),
        "sources": len(keys), "pretrain_seeds": sorted(pretrain_seeds, key=str),
    }  # fmt: skip


def budget_curve(rows: list[Row]) -> list[Row]:
    """Per pretrained task x mode with >= 2 distinct pretrain_epochs among its sources, one
    point per (label budget, pretrain epochs): gain over scratch in accuracy points (mean, std
    over the paired seeds, pooled over pretrain seeds) and test accuracy. Empty when no task
    has two pretraining budgets; points without a paired scratch seed are left out."""
    grouped = groups(rows)
    points: dict[tuple[str, str], dict[tuple[str, int], list[Key]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for key, members in grouped.items():
        task, epochs = members[0].get("task"), _epochs(members)
        if is_scratch(members[0]) or task == UNKNOWN or epochs is None:
            continue
        points[(task, key[1])][(key[2], epochs)].append(key)
    result = []
    for (task, mode), by_point in points.items():
        if len({epochs for _, epochs in by_point}) < 2:
            continue
        for (labels, epochs), keys in by_point.items():
            point = _point(keys, grouped)
            if point is not None:
                n = grouped[keys[0]][0]["num_labeled"]
                result.append(
                    {"task": task, "mode": mode, "labels": labels, "num_labeled": n,
                     "pretrain_epochs": epochs, **point}
                )  # fmt: skip
    return sorted(
        result, key=lambda p: (p["task"], p["mode"], p["num_labeled"] or 0, p["pretrain_epochs"])
    )
