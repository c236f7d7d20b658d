"""report.md: the results table, then what pretraining bought, convergence, failures, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Row = dict[str, Any]

INTRO = (
    "Test accuracy and macro-F1 (mean ± std over seeds). Methods: `<task>-linear` = frozen "
    "pretrained backbone + linear head; `<task>-finetune` = everything trained; `scratch-*` = "
    "the same recipe from random weights.\n"
)
GAIN_INTRO = (
    "Test-accuracy points each pretrained method gains over `scratch` in the same mode: mean ± "
    "std of per-seed differences (a seed fixes the labeled subset, so the pairs saw the same "
    "labels); n/a where no seed is shared (difference of means).\n"
)
CONVERGENCE_INTRO = (
    "Epochs the fine-tune needed to first reach 95% of its final validation accuracy "
    "(mean ± std over seeds), and the epochs it ran.\n"
)


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """A markdown table of `rows` (cells already formatted) under `columns`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _labels(row: Row) -> str:
    return f"{row['labels']} ({row['num_labeled']} labeled)"


def _pm(mean: float, std: float | None, signed: bool = False) -> str:
    """mean ± std to one decimal; n/a for a std that could not be taken."""
    return f"{mean:{'+' if signed else ''}.1f} ± {'n/a' if std is None else f'{std:.1f}'}"


def results_table(summary: list[Row]) -> str:
    """The summary as a table, the best test accuracy per label budget in bold (ties too)."""
    best: dict[str, float] = {}
    for s in summary:  # compared as printed, so equal-looking numbers are all bold
        best[s["labels"]] = max(best.get(s["labels"], 0.0), round(s["acc"][0], 1))
    rows = []
    for s in summary:
        acc = _pm(*s["acc"])
        acc = f"**{acc}**" if round(s["acc"][0], 1) == best[s["labels"]] else acc
        rows.append([_labels(s), s["method"], acc, _pm(*s["f1"]), s["seeds"]])
    return table(["labels", "method", "test acc %", "test macro-F1 %", "seeds"], rows)


def gain_table(gains: list[Row]) -> str:
    rows = [
        [_labels(g), g["method"], g["baseline"], _pm(*g["gain"], signed=True), g["seeds"]]
        for g in gains
    ]
    return table(["labels", "method", "vs", "gain (acc points)", "paired seeds"], rows)


def _epochs(epochs: float) -> str:
    return f"{epochs:.0f}" if float(epochs).is_integer() else f"{epochs:.1f}"


def convergence_table(convergence: list[Row]) -> str:
    rows = [
        [_labels(c), c["method"], _pm(*c["epochs_to_95"]), _epochs(c["epochs"]), c["seeds"]]
        for c in convergence
    ]
    columns = ["labels", "method", "epochs to 95% of final val acc", "epochs run", "seeds"]
    return table(columns, rows)


def failures_list(failures: list[dict[str, str]]) -> str:
    return "".join(f"- `{f['run_dir']}`: {f['error']}\n" for f in failures)


def document(
    root: Path,
    summary: list[Row],
    gains: list[Row],
    convergence: list[Row],
    failures: list[dict[str, str]],
    images: list[Path],
) -> str:
    """The whole report.md; sections with nothing to say are left out. Images are linked by
    file name: they sit beside report.md."""
    parts = [f"# Results: {root}\n"]
    if summary:
        parts += [INTRO, results_table(summary)]
    else:
        parts.append(f"No fine-tune run under `{root}` finished.\n")
    if gains:
        parts += ["## What pretraining bought\n", GAIN_INTRO, gain_table(gains)]
    if convergence:
        parts += ["## Convergence\n", CONVERGENCE_INTRO, convergence_table(convergence)]
    if failures:
        parts += [f"## Failed runs ({len(failures)})\n", failures_list(failures)]
    if images:
        parts += [
            "## Plots\n",
            *(f"![{path.stem.replace('_', ' ')}]({path.name})\n" for path in images),
        ]
    return "\n".join(parts)
