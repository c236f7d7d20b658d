"""Markdown for report.md: the table helper and the results, gain and convergence tables."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

INTRO = (
    "Test accuracy and macro-F1 (mean ± std over fine-tune seeds). Methods: `<task>-linear` = "
    "frozen pretrained backbone + linear head; `<task>-finetune` = everything trained; "
    "`<task>-lp_ft` = linear probe, then everything trained; `scratch-*` = the same recipe from "
    "random weights; `<features>-<classifier>` (e.g. `bow-logreg`) = a classical baseline, no "
    "network, on the same labels (its own settings chosen on validation; no lr). A row is one "
    "pretraining (`task[run]` where a task has several) x mode x label budget, at the lr "
    "chosen on validation accuracy (`lr`).\n"
)
GAIN_INTRO = (
    "Test-accuracy points each pretrained method gains over `scratch` in the same mode "
    "(`lp_ft` against `scratch-finetune`): mean ± std of per-seed differences (a seed fixes the "
    "labeled subset, so the pairs saw the same labels); n/a where no seed is shared (difference "
    "of means). Each pretraining is paired on its own.\n"
)
FLOOR_INTRO = (
    "Test-accuracy points each network row gains over a classical baseline at the same label "
    "budget: mean ± std of per-seed differences (a seed draws the same labeled subset and "
    "validation split for both). A row below zero does not beat the floor.\n"
)
CONVERGENCE_INTRO = (
    "Epochs the fine-tune needed to first reach 95% of its final validation accuracy "
    "(mean ± std over seeds), the epochs it ran, and the seeds still improving when they "
    "stopped: with E validation accuracies and k = max(3, E // 5), the mean of the last k beat "
    "the mean of the k before by more than one point and the last k hold the run's best (runs "
    "with E < 2k are too short to judge). A baseline still improving makes the gains over it look larger than they are.\n"
)


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """A markdown table of `rows` (cells already formatted) under `columns`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def labels(row: Row) -> str:
    return f"{row['labels']} ({row['num_labeled']} labeled)"


def pm(mean: float, std: float | None, signed: bool = False) -> str:
    """mean ± std to one decimal; n/a for a std that could not be taken."""
    if mean is None:
        return "n/a"
    return f"{mean:{'+' if signed else ''}.1f} ± {'n/a' if std is None else f'{std:.1f}'}"


def lr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _varies(summary: list[Row], key: str) -> bool:
    """Whether `key` takes two or more values among the rows (then it gets a column)."""
    return len({s.get(key) for s in summary if s.get(key) is not None}) > 1


def results_table(summary: list[Row]) -> str:
    """The summary as a table, the best test accuracy per label budget in bold (ties too);
    `lr` when the runs logged one, pretrain seed and epochs when they vary."""
    best: dict[str, float] = {}
    for s in summary:  # compared as printed, so equal-looking numbers are all bold
        best[s["labels"]] = max(best.get(s["labels"], 0.0), round(s["acc"][0], 1))
    extra = [k for k in ("pretrain_seed", "pretrain_epochs") if _varies(summary, k)]
    with_lr = any(s.get("lr") is not None for s in summary)
    rows = []
    for s in summary:
        acc = pm(*s["acc"])
        acc = f"**{acc}**" if round(s["acc"][0], 1) == best[s["labels"]] else acc
        row = [labels(s), s["method"], acc, pm(*(s["f1"] or (None, None))), s["seeds"]]
        row += [("—" if s.get("classical") else lr(s.get("lr")))] if with_lr else []
        rows.append(row + ["—" if s.get(k) is None else s[k] for k in extra])
    columns = ["labels", "method", "test acc %", "test macro-F1 %", "seeds"]
    columns += ["lr"] if with_lr else []
    return table(columns + [k.replace("_", " ") for k in extra], rows)


def gain_table(gains: list[Row]) -> str:
    rows = [
        [labels(g), g["method"], g["baseline"], pm(*g["gain"], signed=True), g["seeds"]]
        for g in gains
    ]
    return table(["labels", "method", "vs", "gain (acc points)", "paired seeds"], rows)


def _epochs(epochs: float) -> str:
    return f"{epochs:.0f}" if float(epochs).is_integer() else f"{epochs:.1f}"


def not_converged(c: Row) -> str:
    """`2/3 seeds`, with the seeds too short to judge said."""
    short = f" ({c['too_short']} too short)" if c["too_short"] else ""
    return f"{c['not_converged']}/{c['seeds']} seeds{short}"


def convergence_table(convergence: list[Row]) -> str:
    rows = [
        [labels(c), c["method"], pm(*c["epochs_to_95"]), _epochs(c["epochs"]), c["seeds"],
         not_converged(c)]
        for c in convergence
    ]  # fmt: skip
    columns = ["labels", "method", "epochs to 95% of final val acc", "epochs run", "seeds"]
    return table(columns + ["not converged"], rows)


def floor_sentence(floor: list[Row]) -> str:
    """The network rows that do not beat a classical baseline, or that every one does."""
    below = [
        f"{row_name(g)}: {pm(*g['gain'], signed=True)} vs `{g['baseline']}`"
        for g in floor
        if g["gain"][0] <= 0
    ]
    if not below:
        return "Every network row beats the classical floor.\n"
    return f"Not above the floor: {'; '.join(below)}.\n"


def row_name(c: Row) -> str:
    return f"`{c['method']}` at {labels(c)}"


def convergence_sentence(convergence: list[Row]) -> str:
    flagged = [c for c in convergence if c["not_converged"]]
    if not flagged:
        return "No row was still improving when its epochs ran out.\n"
    named = "; ".join(f"{row_name(c)} ({not_converged(c)})" for c in flagged)
    return f"Not converged (still improving when its epochs ran out): {named}.\n"


def failures_list(failures: list[dict[str, str]]) -> str:
    return "".join(f"- `{f['run_dir']}`: {f['error']}\n" for f in failures)
