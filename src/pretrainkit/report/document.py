"""report.md: the results table, then what pretraining bought, what every network gained over
a classical baseline, labels saved, how much pretraining is enough, convergence, the lr grid,
failures, plots. Sections with nothing to say are left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pretrainkit.report import frozen, pretraining, sections
from pretrainkit.report import markdown as md

Row = dict[str, Any]


@dataclass
class Derived:
    """Every number the report derives from the runs (summary.json holds them)."""

    rows: list[Row]
    gains: list[Row]
    convergence: list[Row]
    lr_choice: list[Row]
    labels_saved: list[Row] = field(default_factory=list)
    budget_curve: list[Row] = field(default_factory=list)
    floor: list[Row] = field(default_factory=list)  # gains over classical baselines
    classical: list[Row] = field(default_factory=list)  # their settings chosen on validation
    pretraining: list[Row] = field(default_factory=list)
    frozen: list[Row] = field(default_factory=list)  # pk-eval of the frozen backbones


def _lrs_logged(lr_choice: list[Row]) -> bool:
    return any(t["lr"] is not None for c in lr_choice for t in c["tried"])


def document(root: Path, d: Derived, failures: list[dict[str, str]], images: list[Path]) -> str:
    """The whole report.md. Images are linked by file name: they sit beside report.md."""
    parts = [f"# Results: {root}\n"]
    if d.rows:
        parts += [md.INTRO, md.results_table(d.rows)]
    else:
        parts.append(f"No fine-tune run under `{root}` finished.\n")
    if d.gains:
        parts += ["## What pretraining bought\n", md.GAIN_INTRO, md.gain_table(d.gains)]
    if d.floor:
        parts += ["## Against the classical floor\n", md.FLOOR_INTRO, md.gain_table(d.floor)]
        parts += [md.floor_sentence(d.floor), sections.classical_list(d.classical)]
    if d.labels_saved:
        parts += ["## Labels saved\n", sections.LABELS_SAVED_INTRO]
        parts.append(sections.saved_list(d.labels_saved))
    if d.frozen:
        parts += ["## Frozen backbones under pk-eval\n", frozen.INTRO]
        parts.append(frozen.frozen_table(d.frozen))
    if any(c["knn_acc"] for c in d.pretraining):
        parts += ["## Pretraining\n", pretraining.PRETRAINING_INTRO]
        parts.append(pretraining.pretraining_table(d.pretraining))
    if d.budget_curve:
        parts += ["## How much pretraining is enough\n", sections.BUDGET_INTRO]
        parts.append(sections.budget_table(d.budget_curve))
    if d.convergence:
        parts += ["## Convergence\n", md.CONVERGENCE_INTRO, md.convergence_table(d.convergence)]
        parts.append(md.convergence_sentence(d.convergence))
    if _lrs_logged(d.lr_choice):
        parts += ["## Learning rate per row\n", sections.LR_INTRO]
        parts.append(sections.lr_table(d.lr_choice))
        parts.append(sections.edge_sentence(d.lr_choice))
    if failures:
        parts += [f"## Failed runs ({len(failures)})\n", md.failures_list(failures)]
    if images:
        parts += [
            "## Plots\n",
            *(f"![{path.stem.replace('_', ' ')}]({path.name})\n" for path in images),
        ]
    return "\n".join(parts)


def baseline_warnings(convergence: list[Row]) -> list[str]:
    """One line per scratch row still improving when its epochs ran out: every gain over it
    is overstated."""
    return [
        f"warning: baseline {c['method']} at {md.labels(c)} was still improving when its "
        f"epochs ran out ({md.not_converged(c)}); the gains over it are overstated"
        for c in convergence
        if c["scratch"] and c["not_converged"]
    ]
