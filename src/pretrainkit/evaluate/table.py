"""The results of `pk-eval`: one row per protocol and labeled training set (the run's label
budget, then each shot count over its seeds), as markdown, JSON and metric keys."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pretrainkit.evaluate.protocol import Outcome
from pretrainkit.report.markdown import pm, table

NAMES = {"knn": "k-NN", "linear": "linear"}
COLUMNS = ["protocol", "labels", "chosen on val", "val acc %", "test acc %"]


@dataclass
class Row:
    """A protocol on one labeled training set: `outcomes` holds one per seed (the run's label
    budget: one; N shots: one per shot seed)."""

    protocol: str
    labels: str
    num_labeled: int
    shots: int | None
    seeds: list[int] | None
    outcomes: list[Outcome]

    def mean(self, key: str) -> float:
        return statistics.fmean(getattr(o, key) for o in self.outcomes)

    def std(self, key: str) -> float | None:
        values = [getattr(o, key) for o in self.outcomes]
        return statistics.stdev(values) if len(values) > 1 else None

    def chosen(self) -> tuple[dict[str, Any], int]:
        """The setting chosen most often over the seeds (the first seed's among equals), and
        how often."""
        counts = Counter(tuple(sorted(o.chosen.items())) for o in self.outcomes)
        setting, times = counts.most_common(1)[0]
        return dict(setting), times


def setting(chosen: dict[str, Any]) -> str:
    """`k=20, T=0.07` or `lr=0.1`."""
    short = {"temperature": "T"}
    return ", ".join(f"{short.get(k, k)}={v:g}" for k, v in chosen.items())


def markdown(rows: list[Row]) -> str:
    """The table: mean ± std over shot seeds, the setting chosen on validation (the most
    frequent one when seeds disagree; a learning rate at the grid's edge is marked)."""
    lines = []
    for row in rows:
        chosen, times = row.chosen()
        note = f" ({times} of {len(row.outcomes)} seeds)" if times < len(row.outcomes) else ""
        note += " (grid edge)" if at_edge(chosen, row.outcomes[0].tried) else ""
        accs = [(100 * row.mean(k), _scaled(row.std(k))) for k in ("val_acc", "test_acc")]
        cells = [pm(*a) if len(row.outcomes) > 1 else f"{a[0]:.1f}" for a in accs]
        labels = f"{row.labels} ({row.num_labeled} labeled)"
        lines.append(
            [NAMES.get(row.protocol, row.protocol), labels, setting(chosen) + note, *cells]
        )
    return table(COLUMNS, lines)


def at_edge(chosen: dict[str, Any], tried: list[dict[str, Any]]) -> bool:
    """Whether the chosen learning rate is the grid's smallest or largest (widen it there).
    k and the temperature are not flagged: the smallest k and the cap are the usual optima."""
    lrs = sorted({t["lr"] for t in tried if "lr" in t})
    return "lr" in chosen and len(lrs) > 1 and chosen["lr"] in (lrs[0], lrs[-1])


def _scaled(std: float | None) -> float | None:
    return None if std is None else 100 * std


def as_json(row: Row) -> dict[str, Any]:
    """A row as eval.json keeps it: the means, and per seed the setting chosen and every
    setting's validation metrics."""
    chosen, _ = row.chosen()
    return {
        "protocol": row.protocol,
        "labels": row.labels,
        "num_labeled": row.num_labeled,
        "shots": row.shots,
        "seeds": row.seeds,
        "chosen": chosen,
        "val_acc": row.mean("val_acc"),
        "val_acc_std": row.std("val_acc"),
        "test_acc": row.mean("test_acc"),
        "test_acc_std": row.std("test_acc"),
        "runs": [
            {
                "seed": seed,
                "chosen": o.chosen,
                "val_acc": o.val_acc,
                "test_acc": o.test_acc,
                "tried": o.tried,
            }
            for seed, o in zip(row.seeds or [None], row.outcomes, strict=True)
        ],
    }


def records(rows: list[Row]) -> tuple[list[str], list[list[Any]]]:
    """The table's columns and rows for W&B: accuracies as fractions (means over seeds)."""
    columns = ["protocol", "labels", "num_labeled", "chosen", "val_acc", "test_acc", "seeds"]
    data = [
        [row.protocol, row.labels, row.num_labeled, setting(row.chosen()[0]),
         row.mean("val_acc"), row.mean("test_acc"), len(row.outcomes)]
        for row in rows
    ]  # fmt: skip
    return columns, data


def metrics(rows: list[Row]) -> dict[str, float]:
    """`val/knn_acc`, `test/linear_acc`, ... (the label budget's rows) and `test/knn_acc_5shot`,
    ... (the shots' means)."""
    out = {}
    for row in rows:
        suffix = "" if row.shots is None else f"_{row.shots}shot"
        out[f"val/{row.protocol}_acc{suffix}"] = row.mean("val_acc")
        out[f"test/{row.protocol}_acc{suffix}"] = row.mean("test_acc")
    return out
