"""Report a study: every fine-tune run under a directory in tables, plots and a W&B run.

pk-report outputs/multirun/finetune/<sweep> --out outputs/my_study
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pretrainkit.io import atomic_write, write_json
from pretrainkit.report.collect import collect, failures
from pretrainkit.report.markdown import document, results_table
from pretrainkit.report.plots import plot_accuracy, plot_val_curves
from pretrainkit.report.tables import convergence, gains, summarize
from pretrainkit.report.wandb_log import log_report, tracked

__all__ = ["collect", "failures", "main", "report", "summarize"]


def report(
    root: Path,
    out: Path,
    *,
    wandb: bool | None = None,
    project: str | None = None,
    group: str | None = None,
) -> str:
    """Write `results.json`, `report.md` and its plots to `out`; log them to W&B if asked.

    Args:
        root: Directory searched recursively for fine-tune runs (`metrics.json`) and failed
            runs (`error.json`).
        out: Where the files go (created if missing).
        wandb: Log a `job_type="report"` W&B run; None: only if the runs were logged to W&B.
        project: W&B project; None: the runs' most common one.
        group: W&B group; None: the runs' most common one.

    Returns:
        The results table in markdown, or a line saying that no run finished.
    """
    rows, failed = collect(root), failures(root)
    summary, gain = summarize(rows), gains(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", rows)
    images: dict[str, Path] = {}  # W&B key -> PNG
    if summary:
        images["report/accuracy_vs_labels"] = plot_accuracy(summary, out / "accuracy_vs_labels.png")
    curves = plot_val_curves(rows, out / "val_curves.png")
    if curves is not None:
        images["report/val_curves"] = curves
    text = document(root, summary, gain, convergence(rows), failed, list(images.values()))
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    if wandb if wandb is not None else tracked(rows):
        log_report(out, rows, summary, gain, images, project=project, group=group)
    if not summary:
        return (
            f"No fine-tune run under {root} finished; {len(failed)} failed: see {out / 'report.md'}"
        )
    return results_table(summary)


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
