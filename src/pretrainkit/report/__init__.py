"""Report a study: every fine-tune run under a directory in tables, plots and a W&B run.

pk-report outputs/multirun/finetune/<sweep> --out outputs/my_study
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pretrainkit.report.budget import budget_curve
from pretrainkit.report.collect import collect, failures
from pretrainkit.report.document import Derived, baseline_warnings, document
from pretrainkit.report.frozen import collect_evals, frozen_rows
from pretrainkit.report.jsonsafe import finite
from pretrainkit.report.labels_saved import labels_saved
from pretrainkit.report.markdown import results_table
from pretrainkit.report.plots import plot_accuracy, plot_gain_vs_pretraining, plot_val_curves
from pretrainkit.report.pretraining import plot_pretraining, pretraining_curves
from pretrainkit.report.select import chosen_runs, lr_choice, mark
from pretrainkit.report.tables import (
    classical_settings,
    convergence,
    floor_gains,
    gains,
    summarize,
)
from pretrainkit.report.wandb_log import log_report, tracked
from pretrainkit.run.files import REPORT, RESULTS, SUMMARY
from pretrainkit.run.io import atomic_write, write_json

__all__ = ["collect", "derive", "failures", "main", "report", "summarize"]


def report(
    root: Path,
    out: Path,
    *,
    wandb: bool | None = None,
    project: str | None = None,
    group: str | None = None,
) -> str:
    """Write `results.json` (the runs, each with its `converged` and `chosen` flags),
    `summary.json` (every derived table), `report.md` and its plots to `out`; log them to W&B
    if asked.

    Args:
        root: Directory searched recursively for fine-tune runs (`metrics.json`) and failed
            runs (`error.json`).
        out: Where the files go (created if missing).
        wandb: Log a `job_type="report"` W&B run; None: only if the runs were logged to W&B.
        project: W&B project; None: the runs' most common one.
        group: W&B group; None: the runs' most common one.

    Returns:
        The results table in markdown, then a warning line per scratch baseline still
        improving when its epochs ran out; or a line saying that no run finished.
    """
    rows, failed = collect(root), failures(root)
    d = derive(rows)
    d.frozen = frozen_rows(collect_evals(root))
    out.mkdir(parents=True, exist_ok=True)
    runs = finite(mark(rows))
    write_json(out / RESULTS, runs)
    write_json(out / SUMMARY, finite(d))
    images = _plots(rows, d, out)
    text = document(root, d, failed, list(images.values()))
    atomic_write(out / REPORT, lambda tmp: Path(tmp).write_text(text))
    if wandb if wandb is not None else tracked(rows):
        log_report(out, runs, d, images, project=project, group=group)
    if not d.rows:
        return f"No fine-tune run under {root} finished; {len(failed)} failed: see {out / REPORT}"
    return "\n".join([results_table(d.rows).rstrip("\n"), *baseline_warnings(d.convergence)])


def derive(rows: list[dict[str, Any]]) -> Derived:
    """Every table of the report, from the collected runs."""
    summary = summarize(rows)
    return Derived(
        rows=summary,
        gains=gains(rows),
        convergence=convergence(rows),
        lr_choice=lr_choice(rows),
        labels_saved=labels_saved(rows, summary),
        budget_curve=budget_curve(rows),
        floor=floor_gains(rows),
        classical=classical_settings(rows),
        pretraining=pretraining_curves(rows),
    )


def _plots(rows: list[dict[str, Any]], d: Derived, out: Path) -> dict[str, Path]:
    """The report's PNGs that have something to show, by W&B key."""
    images = {}
    if d.rows:
        images["report/accuracy_vs_labels"] = plot_accuracy(d.rows, out / "accuracy_vs_labels.png")
    curves = plot_val_curves(chosen_runs(rows), out / "val_curves.png")
    if curves is not None:
        images["report/val_curves"] = curves
    budget = plot_gain_vs_pretraining(d.budget_curve, out / "gain_vs_pretraining.png")
    if budget is not None:
        images["report/gain_vs_pretraining"] = budget
    knn = plot_pretraining(d.pretraining, out / "pretraining_knn.png")
    if knn is not None:
        images["report/pretraining_knn"] = knn
    return images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pk-report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", type=Path, help="directory holding fine-tune runs (searched recursively)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where report.md, results.json and plots go (default: root)",
    )
    parser.add_argument(
        "--wandb",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log the report as a W&B run (default: if the runs were logged to W&B)",
    )
    parser.add_argument("--project", default=None, help="W&B project (default: the runs' own)")
    parser.add_argument("--group", default=None, help="W&B group (default: the runs' own)")
    args = parser.parse_args(argv)
    try:
        table = report(
            args.root,
            args.out or args.root,
            wandb=args.wandb,
            project=args.project,
            group=args.group,
        )
    except FileNotFoundError as err:  # a wrong directory deserves one line, not a traceback
        sys.exit(f"pk-report: {err}")
    print(table)
