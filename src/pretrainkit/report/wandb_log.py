"""The report as a W&B run of its own (job_type="report") in the study's project and group:
the tables and plots beside the fine-tunes they summarize."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

Row = dict[str, Any]
SUMMARY_COLUMNS = [
    "labels", "num_labeled", "method", "acc_mean", "acc_std", "f1_mean", "f1_std", "seeds",
]  # fmt: skip
GAIN_COLUMNS = ["labels", "num_labeled", "method", "baseline", "gain_mean", "gain_std", "seeds"]


def tracked(rows: list[Row]) -> bool:
    """Whether the runs were logged to W&B (so the report belongs there too)."""
    return any(isinstance(row.get("wandb"), dict) for row in rows)


def most_common(rows: list[Row], key: str) -> str | None:
    """The most common `wandb[key]` among rows (project, group), or None."""
    values = [r["wandb"].get(key) for r in rows if isinstance(r.get("wandb"), dict)]
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _tables(rows: list[Row], summary: list[Row], gains: list[Row]) -> dict[str, Any]:
    import wandb

    columns = [
        k for k in dict.fromkeys(k for r in rows for k in r) if all(_scalar(r.get(k)) for r in rows)
    ]
    summary_data = [
        [s["labels"], s["num_labeled"], s["method"], *s["acc"], *s["f1"], s["seeds"]]
        for s in summary
    ]
    gain_data = [
        [g["labels"], g["num_labeled"], g["method"], g["baseline"], *g["gain"], g["seeds"]]
        for g in gains
    ]

    def table(cols: list[str], data: list[list[Any]]) -> Any:
        return wandb.Table(columns=cols, data=data, allow_mixed_types=True)

    return {
        "report/summary": table(SUMMARY_COLUMNS, summary_data),
        "report/runs": table(columns, [[r.get(k) for k in columns] for r in rows]),
        "report/gain": table(GAIN_COLUMNS, gain_data),
    }


def _init(**kwargs: Any) -> Any:
    """`wandb.init`, online if logged in; offline when the online start fails (no network)."""
    import wandb

    from pretrainkit.tracking import wandb_mode  # here: it imports Lightning (seconds)

    if wandb.run is not None:  # a live run in this process would otherwise get the report
        wandb.finish()
    mode = wandb_mode(None)
    try:
        return wandb.init(mode=mode, **kwargs)
    except Exception as err:  # wandb raises CommError, UsageError, timeouts...
        if mode != "online":
            raise
        warnings.warn(
            f"W&B could not start online ({err!r}); logging the report offline, sync it "
            "later with `wandb sync`.",
            stacklevel=2,
        )
        return wandb.init(mode="offline", **kwargs)


def log_report(
    out: Path,
    rows: list[Row],
    summary: list[Row],
    gains: list[Row],
    images: dict[str, Path],
    *,
    project: str | None = None,
    group: str | None = None,
) -> None:
    """Log the report's tables and `images` (`{"report/<name>": png}`) to a new W&B run.

    Project and group default to the runs' own; a W&B failure only warns, since the files on
    disk are the report.
    """
    try:
        import wandb

        group = group or most_common(rows, "group")
        run = _init(
            project=project or most_common(rows, "project") or "pretrainkit",
            group=group,
            name=f"report-{group}" if group else "report",
            job_type="report",
            dir=str(out),
        )
        try:
            media = {key: wandb.Image(str(path)) for key, path in images.items()}
            run.log({**_tables(rows, summary, gains), **media})
        finally:
            wandb.finish()
    except Exception as err:
        warnings.warn(
            f"the W&B report run failed ({err!r}); report.md and the plots are on disk.",
            stacklevel=2,
        )
