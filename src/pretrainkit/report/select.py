"""The learning rate of each report row, chosen on validation accuracy only.

A study sweeps the fine-tune's lr as separate runs; reporting the best lr by test accuracy
would tune on the test set, and reporting all lrs mixed would blur every method by its worst
lr. So per row key (source, mode, label budget) the lr with the highest mean over seeds of
val/acc_best (val/acc for runs without it) is chosen, and the row reports only its runs; equal
accuracies (a small validation set saturates at 100%) go to the lower mean of each run's best
val/loss, then to the smaller lr. Nothing here reads a test metric.

When the lrs ran on different seeds — a grid searched on seed 0, then more seeds run at the
chosen lr only (the Fashion-MNIST study's recipe) — they are compared on the seeds every lr
ran, so the lr that got more seeds is not judged on other data than the rest; the row then
reports all of the chosen lr's seeds.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

Row = dict[str, Any]
Key = tuple[str, str, str]  # (source, mode, label budget)


def budget(row: Row) -> str:
    """The label budget as people say it: `10/class` or `1%`."""
    if row.get("labels_per_class") is not None:
        return f"{row['labels_per_class']}/class"
    if row.get("label_fraction") is not None:
        return f"{row['label_fraction']:.0%}"
    return "all"


def row_key(row: Row) -> Key:
    return row["source"], row["mode"], budget(row)


def val_score(row: Row) -> float | None:
    """What the lr is chosen on: val/acc_best, else the last val/acc, else None."""
    best = row.get("val_acc_best")
    return best if best is not None else row.get("val_acc")


def val_loss(row: Row) -> float | None:
    """The tie-break: the run's lowest val/loss over its epochs (None without a history)."""
    losses = [v for v in ((row.get("history") or {}).get("val/loss") or []) if v is not None]
    return min(losses) if losses else None


def _lr_order(lr: float | None) -> tuple[bool, float]:
    return lr is None, lr or 0.0


def _mean_over_seeds(runs: list[Row], score_of: Any = val_score) -> float | None:
    """Mean over seeds of the per-seed mean score; None when no run has one."""
    by_seed: dict[Any, list[float]] = defaultdict(list)
    for run in runs:
        score = score_of(run)
        if score is not None:
            by_seed[run.get("seed")].append(score)
    if not by_seed:
        return None
    return statistics.fmean(statistics.fmean(scores) for scores in by_seed.values())


def choose(runs: list[Row]) -> tuple[float | None, list[Row], bool]:
    """The chosen lr among one row key's runs, the val score of every lr tried, and whether a
    choice was made. One lr: it is chosen, scored or not (older runs log no lr and no val).
    Several: the best mean val score wins (ties: the lower mean best val/loss, then the
    smallest lr); no choice when no lr has a val score."""
    by_lr: dict[float | None, list[Row]] = defaultdict(list)
    for run in runs:
        by_lr[run.get("lr")].append(run)
    seeds = {lr: {r.get("seed") for r in group} for lr, group in by_lr.items()}
    shared = set.intersection(*seeds.values())
    if shared:  # compare on the seeds every lr ran (all of them on a full grid)
        by_lr_shared = {lr: [r for r in g if r.get("seed") in shared] for lr, g in by_lr.items()}
    else:
        by_lr_shared = by_lr
    tried = [
        {"lr": lr, "val_acc": _mean_over_seeds(by_lr_shared[lr]),
         "val_loss": _mean_over_seeds(by_lr_shared[lr], val_loss), "seeds": len(seeds[lr])}
        for lr in sorted(by_lr, key=_lr_order)
    ]  # fmt: skip
    if len(tried) == 1:
        return tried[0]["lr"], tried, True
    scored = [t for t in tried if t["val_acc"] is not None]
    if not scored:
        return None, tried, False

    def rank(t: Row) -> tuple[float, float]:
        loss = t["val_loss"]
        return round(t["val_acc"], 9), -loss if loss is not None else -math.inf

    best = max(scored, key=rank)  # first of equals: the smallest lr
    return best["lr"], tried, True


def _by_key(rows: list[Row]) -> dict[Key, list[Row]]:
    groups: dict[Key, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row_key(row)].append(row)
    return groups


def lr_choice(rows: list[Row]) -> list[Row]:
    """Per row key: the lrs tried with their mean val accuracy over seeds, and the chosen one
    (`chosen` None with `decided` False when several lrs lack any val accuracy). Classical
    baselines have no lr (they choose their own settings on validation): left out."""
    result = []
    for key, runs in _by_key([r for r in rows if not r.get("classical")]).items():
        lr, tried, decided = choose(runs)
        first = runs[0]
        result.append(
            {
                "source": key[0], "mode": key[1], "labels": key[2],
                "num_labeled": first.get("num_labeled"), "method": first["label"],
                "lr": lr, "decided": decided, "tried": tried,
            }
        )  # fmt: skip
    return sorted(result, key=lambda c: (c["num_labeled"] or 0, c["method"]))


def chosen_runs(rows: list[Row]) -> list[Row]:
    """The runs of each row key's chosen lr (all of them where the key has one lr)."""
    picked = []
    for runs in _by_key(rows).values():
        lr, _, decided = choose(runs)
        picked += [r for r in runs if decided and r.get("lr") == lr]
    return picked


def mark(rows: list[Row]) -> list[Row]:
    """The rows with a `chosen` flag: whether each run counts in its report row."""
    kept = {id(r) for r in chosen_runs(rows)}
    return [{**r, "chosen": id(r) in kept} for r in rows]
