"""report.md's "Frozen backbones under pk-eval": the pk-eval results a study's linear jobs left
(`study.eval=true`, each an `eval.json`), per backbone and label budget over seeds, and what
each pretrained backbone gains over the random initialisation of the scratch rows."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pretrainkit.report.markdown import pm, table
from pretrainkit.report.select import budget
from pretrainkit.report.tables import gain, mean_std
from pretrainkit.run.files import EVAL_RESULTS

Row = dict[str, Any]
RANDOM = "random_init"  # pretrainkit.run.study_eval.RANDOM_INIT (no import: report stays light)
PROTOCOLS = ("knn", "linear")
# what an eval.json says of its backbone and labels
KEYS = ("task", "pretrained", "pretrain_epochs", "backbone", "label_fraction", "labels_per_class",
        "num_labeled", "seed")  # fmt: skip

INTRO = (
    "Each frozen backbone under pk-eval's standard protocol, on the same labeled split as the "
    "linear rows of the same seed: weighted k-NN (k and temperature) and linear probes (lr) on "
    "cached features, each setting chosen on validation accuracy, test accuracy % of the chosen "
    "one (mean ± std over seeds). `random init` is a scratch row's untrained backbone; the gain "
    "columns are the per-seed differences from it.\n"
)


def collect_evals(root: Path) -> list[Row]:
    """One entry per pk-eval result under `root` (its label-budget rows; shot rows left out)."""
    found = []
    for path in sorted(root.rglob(EVAL_RESULTS)):
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or "metrics" not in result:
            continue
        metrics = result["metrics"]
        found.append(
            {
                **{k: result.get(k) for k in KEYS},
                **{p: metrics.get(f"test/{p}_acc") for p in PROTOCOLS},
                "eval_dir": str(path.parent),
            }
        )
    return found


def _name(entry: Row, several: set[str]) -> str:
    if entry["task"] == RANDOM:
        return f"random init ({entry['backbone']})"
    if entry["task"] in several:  # one task pretrained for several budgets
        epochs = entry["pretrain_epochs"]
        return f"{entry['task']} ({epochs} epoch{'' if epochs == 1 else 's'})"
    return str(entry["task"])


def frozen_rows(entries: list[Row]) -> list[Row]:
    """Per backbone and label budget: each protocol's mean ± std test accuracy (%) over seeds
    and its paired gain over the random init at that budget (None where there is none)."""
    runs: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        runs[e["task"]].add(e["pretrained"])
    several = {task for task, dirs in runs.items() if len(dirs) > 1 and task != RANDOM}
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    randoms: dict[str, list[Row]] = defaultdict(list)  # per label budget
    for e in entries:
        groups[(budget(e), _name(e, several))].append(e)
        if e["task"] == RANDOM:
            randoms[budget(e)].append(e)

    def by_seed(members: list[Row], protocol: str) -> dict[Any, float]:
        return {m["seed"]: 100 * m[protocol] for m in members if m[protocol] is not None}

    rows = []
    for (labels, name), members in groups.items():
        row: Row = {"labels": labels, "num_labeled": members[0]["num_labeled"], "backbone": name,
                    "random": members[0]["task"] == RANDOM,
                    "seeds": len({m["seed"] for m in members})}  # fmt: skip
        for p in PROTOCOLS:
            ours = by_seed(members, p)
            row[p] = mean_std(list(ours.values())) if ours else None
            theirs = by_seed(randoms[labels], p)
            row[f"{p}_gain"] = gain(ours, theirs) if ours and theirs and not row["random"] else None
        rows.append(row)
    return sorted(rows, key=lambda r: (r["num_labeled"] or 0, -(r["linear"] or (0.0,))[0]))


def frozen_table(rows: list[Row]) -> str:
    cells = [
        [f"{r['labels']} ({r['num_labeled']} labeled)", r["backbone"],
         *(pm(*r[p]) if r[p] else "n/a" for p in PROTOCOLS),
         *(pm(*r[f"{p}_gain"], signed=True) if r[f"{p}_gain"] else "—" for p in PROTOCOLS),
         r["seeds"]]
        for r in rows
    ]  # fmt: skip
    columns = ["labels", "backbone", "k-NN test %", "linear test %", "k-NN gain", "linear gain"]
    return table([*columns, "seeds"], cells)
