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


def results_table(summary: list[Row]) -> str:
    """The summary as a table, the best test accuracy per label budget in bold (ties too)."""
    best: dict[str, float] = {}
    for s in summary:  # compared as printed, so equal-looking numbers are all bold
        best[s["labels"]] = max(best.get(s["labels"], 0.0), round(s["acc"][0], 1))
    lines = [
        "| labels | method | test acc % | test macro-F1 % | seeds |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        acc = f"{s['acc'][0]:.1f} ± {s['acc'][1]:.1f}"
        acc = f"**{acc}**" if round(s["acc"][0], 1) == best[s["labels"]] else acc
        lines.append(
            f"| {s['labels']} ({s['num_labeled']} labeled) | {s['method']} | {acc} | "
            f"{s['f1'][0]:.1f} ± {s['f1'][1]:.1f} | {s['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def gain_table(gains: list[Row]) -> str:
    lines = [
        "| labels | method | vs | gain (acc points) | paired seeds |",
        "|---|---|---|---|---|",
    ]
    for g in gains:
        mean, std = g["gain"]
        spread = "n/a" if std is None else f"{std:.1f}"
        lines.append(
            f"| {g['labels']} ({g['num_labeled']} labeled) | {g['method']} | {g['baseline']} | "
            f"{mean:+.1f} ± {spread} | {g['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def _epochs(epochs: float) -> str:
    return f"{epochs:.0f}" if float(epochs).is_integer() else f"{epochs:.1f}"


def convergence_table(convergence: list[Row]) -> str:
    lines = [
        "| labels | method | epochs to 95% of final val acc | epochs run | seeds |",
        "|---|---|---|---|---|",
    ]
    for c in convergence:
        mean, std = c["epochs_to_95"]
        lines.append(
            f"| {c['labels']} ({c['num_labeled']} labeled) | {c['method']} | "
            f"{mean:.1f} ± {std:.1f} | {_epochs(c['epochs'])} | {c['seeds']} |"
        )
    return "\n".join(lines) + "\n"


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
