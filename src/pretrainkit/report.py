"""Collect fine-tune runs' metrics.json files into a results table.

pk-report outputs/multirun/finetune/<sweep> --out outputs/my_study
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from pretrainkit.io import write_json

ROW_KEYS = (
    "method",
    "task",
    "pretrained",
    "freeze_backbone",
    "label_fraction",
    "labels_per_class",
    "num_labeled",
    "seed",
)


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per `metrics.json` under `root`, with `test_acc`/`test_f1` and the run dir."""
    rows = []
    for path in sorted(root.rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        row = {k: metrics.get(k) for k in ROW_KEYS}
        row.update(
            test_acc=metrics.get("test/acc"),
            test_f1=metrics.get("test/f1"),
            run_dir=str(path.parent),
        )
        rows.append(row)
    if not rows:
        raise FileNotFoundError(
            f"no metrics.json under {root}: point pk-report at fine-tune run directories."
        )
    return rows


def _labels(row: dict[str, Any]) -> str:
    if row["labels_per_class"] is not None:
        return f"{row['labels_per_class']}/class"
    return f"{row['label_fraction']:.0%}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds for each (labels, method)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(_labels(row), row["method"])].append(row)
    summary = []
    for (labels, method), members in groups.items():
        acc = _mean_std([100 * m["test_acc"] for m in members])
        f1 = _mean_std([100 * m["test_f1"] for m in members])
        num_labeled = members[0]["num_labeled"]
        summary.append(
            {
                "labels": labels,
                "num_labeled": num_labeled,
                "method": method,
                "acc": acc,
                "f1": f1,
                "seeds": len(members),
            }
        )
    return sorted(summary, key=lambda s: (s["num_labeled"] or 0, -s["acc"][0]))


def markdown(summary: list[dict[str, Any]]) -> str:
    """A table, best test accuracy per label budget in bold."""
    best = {}
    for s in summary:
        best[s["labels"]] = max(best.get(s["labels"], 0.0), s["acc"][0])
    lines = [
        "| labels | method | test acc % | test macro-F1 % | seeds |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        acc = f"{s['acc'][0]:.1f} ± {s['acc'][1]:.1f}"
        acc = f"**{acc}**" if s["acc"][0] == best[s["labels"]] else acc
        lines.append(
            f"| {s['labels']} ({s['num_labeled']} labeled) | {s['method']} | {acc} | "
            f"{s['f1'][0]:.1f} ± {s['f1'][1]:.1f} | {s['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def report(root: Path, out: Path) -> str:
    """Write `results.json` (one row per run) and `results.md` (the summary) to `out`."""
    rows = collect(root)
    table = markdown(summarize(rows))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", rows)
    (out / "results.md").write_text(
        f"# Results: {root}\n\nTest accuracy and macro-F1 (mean ± std over seeds). "
        "Methods: `<task>-linear` = frozen pretrained backbone + linear head; `<task>-finetune` = "
        "everything trained; `scratch-*` = the same recipe from random weights.\n\n" + table
    )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pk-report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", type=Path, help="directory holding fine-tune runs (searched recursively)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where results.md/json go (default: root)"
    )
    args = parser.parse_args(argv)
    print(report(args.root, args.out or args.root))


if __name__ == "__main__":
    main()
