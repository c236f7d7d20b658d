"""The report as a W&B run of its own (job_type="report") in the study's project and group:
the tables and plots beside the fine-tunes they summarize."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pretrainkit.run.wandb_mode import wandb_mode

if TYPE_CHECKING:
    from pretrainkit.report.document import Derived

Row = dict[str, Any]
SUMMARY_COLUMNS = [
    "labels", "num_labeled", "method", "acc_mean", "acc_std", "f1_mean", "f1_std", "seeds", "lr",
    "source", "pretrain_seed", "pretrain_epochs",
]  # fmt: skip
FROZEN_COLUMNS = [
    "labels", "num_labeled", "backbone", "knn_mean", "knn_std", "linear_mean", "linear_std",
    "knn_gain_mean", "knn_gain_std", "linear_gain_mean", "linear_gain_std", "seeds",
]  # fmt: skip
GAIN_COLUMNS = ["labels", "num_labeled", "method", "baseline", "gain_mean", "gain_std", "seeds"]
LR_COLUMNS = ["labels", "num_labeled", "method", "lr", "val_acc", "seeds", "chosen"]
SAVED_COLUMNS = [
    "labels", "num_labeled", "method", "acc", "scratch_labels", "match", "ratio",
    "seeds_low", "seeds_high",
]  # fmt: skip
BUDGET_COLUMNS = [
    "task", "mode", "labels", "num_labeled", "pretrain_epochs", "gain_mean", "gain_std",
    "acc_mean", "acc_std", "pairs",
]  # fmt: skip


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


def _seed_end(match: dict[str, Any]) -> float | str | None:
    """One end of a labels-saved seed range: a number, or `>N` past scratch's largest budget."""
    return f">{match['largest']}" if match["kind"] == "beyond" else match["labels"]


def _data(d: Derived) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Each derived table as (columns, rows), by W&B key."""
    summary = [
        [s["labels"], s["num_labeled"], s["method"], *s["acc"], *(s["f1"] or (None, None)),
         s["seeds"], s["lr"], s["source"], s["pretrain_seed"], s["pretrain_epochs"]]
        for s in d.rows
    ]  # fmt: skip
    gain = [
        [g["labels"], g["num_labeled"], g["method"], g["baseline"], *g["gain"], g["seeds"]]
        for g in d.gains
    ]
    floor = [
        [g["labels"], g["num_labeled"], g["method"], g["baseline"], *g["gain"], g["seeds"]]
        for g in d.floor
    ]
    lrs = [
        [c["labels"], c["num_labeled"], c["method"], t["lr"], t["val_acc"], t["seeds"],
         c["decided"] and t["lr"] == c["lr"]]
        for c in d.lr_choice for t in c["tried"]
    ]  # fmt: skip
    saved = [
        [e["labels"], e["num_labeled"], e["method"], e["acc"], e["scratch_labels"], e["match"],
         e["ratio"], *(_seed_end(m) for m in e["seed_range"])]
        for e in d.labels_saved
    ]  # fmt: skip
    budget = [
        [p["task"], p["mode"], p["labels"], p["num_labeled"], p["pretrain_epochs"], *p["gain"],
         *p["acc"], p["pairs"]]
        for p in d.budget_curve
    ]  # fmt: skip
    frozen = [
        [f["labels"], f["num_labeled"], f["backbone"], *(f["knn"] or (None, None)),
         *(f["linear"] or (None, None)), *(f["knn_gain"] or (None, None)),
         *(f["linear_gain"] or (None, None)), f["seeds"]]
        for f in d.frozen
    ]  # fmt: skip
    return {
        "report/frozen": (FROZEN_COLUMNS, frozen),
        "report/summary": (SUMMARY_COLUMNS, summary),
        "report/gain": (GAIN_COLUMNS, gain),
        "report/floor": (GAIN_COLUMNS, floor),
        "report/lr_choice": (LR_COLUMNS, lrs),
        "report/labels_saved": (SAVED_COLUMNS, saved),
        "report/budget_curve": (BUDGET_COLUMNS, budget),
    }


def _tables(rows: list[Row], d: Derived) -> dict[str, Any]:
    import wandb

    columns = [
        k for k in dict.fromkeys(k for r in rows for k in r) if all(_scalar(r.get(k)) for r in rows)
    ]

    def table(cols: list[str], data: list[list[Any]]) -> Any:
        return wandb.Table(columns=cols, data=data, allow_mixed_types=True)

    tables = {key: table(*spec) for key, spec in _data(d).items() if spec[1]}
    return {**tables, "report/runs": table(columns, [[r.get(k) for k in columns] for r in rows])}


def _init(**kwargs: Any) -> Any:
    """`wandb.init`, online if logged in; offline when the online start fails (no network)."""
    import wandb

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
    derived: Derived,
    images: dict[str, Path],
    *,
    project: str | None = None,
    group: str | None = None,
) -> None:
    """Log the report's tables (`derived`, the runs) and `images` (`{"report/<name>": png}`)
    to a new W&B run; a table with no rows is left out.

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
            run.log({**_tables(rows, derived), **media})
        finally:
            wandb.finish()
    except Exception as err:
        warnings.warn(
            f"the W&B report run failed ({err!r}); report.md and the plots are on disk.",
            stacklevel=2,
        )
