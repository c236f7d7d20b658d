"""Numbers over seeds, per report row (source x mode x label budget, at its chosen lr): the
results summary, what pretraining gained over scratch, what every network gained over a
classical baseline (the floor), convergence."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from pretrainkit.report.identity import is_classical, is_scratch
from pretrainkit.report.select import Key, budget, chosen_runs, row_key

Row = dict[str, Any]
BASELINE_MODE = {"linear": "linear", "finetune": "finetune", "lp_ft": "finetune"}
SCRATCH = "scratch"

__all__ = ["budget", "convergence", "floor_gains", "gains", "mean_std", "split_method", "summarize"]


def split_method(method: str) -> tuple[str, str]:
    """`simclr-linear` -> (`simclr`, `linear`); `simclr-lp_ft` -> (`simclr`, `lp_ft`)."""
    task, _, mode = method.rpartition("-")
    return task, mode


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def groups(rows: list[Row]) -> dict[Key, list[Row]]:
    """The chosen-lr runs that tested, per row key (a run that never tested compares with
    nothing)."""
    result: dict[Key, list[Row]] = defaultdict(list)
    for row in chosen_runs(rows):
        if row.get("test_acc") is not None:
            result[row_key(row)].append(row)
    return result


def by_seed(members: list[Row], key: str = "test_acc") -> dict[Any, float]:
    """Fine-tune seed -> the mean of `key` (in %) over that seed's runs."""
    values: dict[Any, list[float]] = defaultdict(list)
    for m in members:
        values[m["seed"]].append(100 * m[key])
    return {seed: statistics.fmean(v) for seed, v in values.items()}


def _first(members: list[Row], key: str) -> Any:
    return next((m[key] for m in members if m.get(key) is not None), None)


def _describe(key: Key, members: list[Row]) -> Row:
    """What names a report row: its source, task, mode, budget, display label and lr."""
    first = members[0]
    return {
        "labels": key[2], "num_labeled": first["num_labeled"], "method": first["label"],
        "source": key[0], "name": first["name"], "task": first.get("task"), "mode": key[1],
        "lr": first.get("lr"), "pretrain_seed": _first(members, "pretrain_seed"),
        "pretrain_epochs": _first(members, "pretrain_epochs"),
        "classical": is_classical(first),
    }  # fmt: skip


def summarize(rows: list[Row]) -> list[Row]:
    """Test accuracy and macro-F1 (%) mean and std over fine-tune seeds per report row, sorted
    by number of labels, then best accuracy first. `seeds` counts distinct seeds, not runs."""
    summary = []
    for key, members in groups(rows).items():
        f1 = [m for m in members if m.get("test_f1") is not None]
        summary.append(
            {
                **_describe(key, members),
                "acc": mean_std(list(by_seed(members).values())),
                "f1": mean_std(list(by_seed(f1, "test_f1").values())) if f1 else None,
                "seeds": len(by_seed(members)),
            }
        )
    return sorted(summary, key=lambda s: (s["num_labeled"] or 0, -s["acc"][0]))


def paired(ours: dict[Any, float], theirs: dict[Any, float]) -> list[float]:
    """Per-seed differences over the seeds both sides ran (a seed fixes the labeled subset)."""
    return [ours[s] - theirs[s] for s in ours if s in theirs]


def gain(ours: dict[Any, float], theirs: dict[Any, float]) -> tuple[float, float | None]:
    """Mean and std of the paired differences; without a common seed, the difference of
    means (std None)."""
    diffs = paired(ours, theirs)
    if diffs:
        return mean_std(diffs)
    return statistics.fmean(ours.values()) - statistics.fmean(theirs.values()), None


def baseline_key(key: Key) -> Key:
    """The scratch row a pretrained row is compared with: same budget, scratch-finetune for
    lp_ft (both train the whole network), the same mode otherwise."""
    return SCRATCH, BASELINE_MODE.get(key[1], key[1]), key[2]


def _versus(key: Key, members: list[Row], base: list[Row]) -> Row:
    """A row's gain over another (`base`, its runs), paired by seed."""
    ours, theirs = by_seed(members), by_seed(base)
    return {
        **_describe(key, members),
        "baseline": base[0]["label"],
        "gain": gain(ours, theirs),
        "seeds": len(paired(ours, theirs)),
    }


def gains(rows: list[Row]) -> list[Row]:
    """Test-accuracy points each pretrained row gains over scratch, per source (never
    averaged across sources): mean (and std) of per-seed differences. A classical baseline is
    neither side: it pretrained nothing, and it is not the same network from random weights."""
    grouped = groups(rows)
    result = []
    for key, members in grouped.items():
        base = baseline_key(key)
        if is_scratch(members[0]) or is_classical(members[0]) or base not in grouped:
            continue
        result.append(_versus(key, members, grouped[base]))
    return sorted(result, key=lambda g: (g["num_labeled"] or 0, g["method"]))


def floor_gains(rows: list[Row]) -> list[Row]:
    """Test-accuracy points each network row, pretrained or scratch, gains over each classical
    baseline at the same label budget: mean (and std) of per-seed differences (a seed draws the
    same labeled subset and validation split for both). Empty without a classical row."""
    grouped = groups(rows)
    floors = [key for key, members in grouped.items() if is_classical(members[0])]
    result = [
        _versus(key, members, grouped[floor])
        for key, members in grouped.items()
        if not is_classical(members[0])
        for floor in floors
        if floor[2] == key[2]
    ]
    return sorted(result, key=lambda g: (g["num_labeled"] or 0, -g["gain"][0], g["baseline"]))


def classical_settings(rows: list[Row]) -> list[Row]:
    """Per classical report row: the setting each seed's run chose on validation, with its
    validation accuracy (what `Learning rate per row` shows for the networks)."""
    result = []
    for key, members in groups(rows).items():
        if is_classical(members[0]):
            chosen = [
                {"seed": m["seed"], "setting": (m.get("classical") or {}).get("chosen"),
                 "val_acc": m.get("val_acc_best")}
                for m in sorted(members, key=lambda m: m["seed"])
            ]  # fmt: skip
            result.append({**_describe(key, members), "chosen": chosen})
    return sorted(result, key=lambda c: (c["num_labeled"] or 0, c["method"]))


def _not_converged(members: list[Row]) -> tuple[int, int, int]:
    """(seeds flagged still improving, seeds, seeds too short to judge) among a row's runs."""
    seeds = {m["seed"] for m in members}
    flagged = {m["seed"] for m in members if m.get("converged") is False}
    judged = {m["seed"] for m in members if m.get("converged") is not None}
    return len(flagged), len(seeds), len(seeds - judged)


def convergence(rows: list[Row]) -> list[Row]:
    """Per report row with histories: epochs to reach 95% of the final validation accuracy
    (mean, std over runs), mean epochs run, and how many of its `seeds` were still improving when they
    stopped (`convergence.still_improving`)."""
    result = []
    for key, members in groups(rows).items():
        members = [m for m in members if m.get("epochs_to_95") is not None]
        if not members:
            continue
        flagged, seeds, short = _not_converged(members)
        result.append(
            {
                **_describe(key, members),
                "epochs_to_95": mean_std([m["epochs_to_95"] for m in members]),
                "epochs": statistics.fmean(m["epochs"] for m in members),
                "seeds": seeds,
                "not_converged": flagged, "too_short": short,
                "scratch": is_scratch(members[0]),
            }
        )  # fmt: skip
    return sorted(result, key=lambda c: (c["num_labeled"] or 0, c["method"]))
