"""Markdown for report.md's fairness sections: the lr grid, labels saved, how much
pretraining is enough."""

from __future__ import annotations

from typing import Any

from pretrainkit.report.markdown import labels, lr, pm, table

Row = dict[str, Any]

LR_INTRO = (
    "Each row's lr is the one with the best mean validation accuracy over seeds (val/acc_best, "
    "else the last val/acc); test accuracy is never looked at. Mean validation accuracy (%) of "
    "every lr tried, the chosen one in bold (where the lrs ran on different seeds, they are "
    "compared on the seeds all of them ran: `(1 seed)` marks an lr run on fewer):\n"
)
LABELS_SAVED_INTRO = (
    "Labels the best scratch method (per budget, the better of its modes) needs to match each "
    "pretrained row's mean test accuracy: linear interpolation in log(labels) between the two "
    "scratch budgets around the first crossing; `≤ n` when scratch already matches at its "
    "smallest budget n, `more than n` when it never does up to its largest. The seed range "
    "matches each fine-tune seed's accuracy against the same mean scratch curve.\n"
)
BUDGET_INTRO = (
    "Gain over scratch (test-accuracy points, mean ± std over paired fine-tune seeds, pooled "
    "over pretrain seeds) against the epochs of pretraining, where a task was pretrained for "
    "two or more budgets.\n"
)


def _tried(choice: Row) -> str:
    cells = []
    for t in choice["tried"]:
        val = "n/a" if t["val_acc"] is None else f"{100 * t['val_acc']:.1f}"
        fewer = t["seeds"] < max(u["seeds"] for u in choice["tried"])
        cell = f"{lr(t['lr'])}: {val}" + (
            f" ({t['seeds']} seed{'s' * (t['seeds'] > 1)})" if fewer else ""
        )
        cells.append(f"**{cell}**" if choice["decided"] and t["lr"] == choice["lr"] else cell)
    return " · ".join(cells)


def lr_table(choices: list[Row]) -> str:
    rows = [
        [labels(c), c["method"], lr(c["lr"]) if c["decided"] else "none (no val acc)", _tried(c)]
        for c in choices
    ]
    return table(["labels", "method", "lr chosen", "val acc % by lr"], rows)


def at_grid_edge(choices: list[Row]) -> list[Row]:
    """Rows whose chosen lr is the smallest or largest of three or more tried: the best may lie
    outside the grid."""
    edge = []
    for c in choices:
        tried = sorted(t["lr"] for t in c["tried"] if t["val_acc"] is not None)
        if c["decided"] and len(tried) >= 3 and c["lr"] in (tried[0], tried[-1]):
            edge.append(c)
    return edge


def edge_sentence(choices: list[Row]) -> str:
    edge = at_grid_edge(choices)
    # a grid of one or two lrs has no inside: no chosen lr can be known to lie within it
    small = [c for c in choices if c["decided"] and len({t["lr"] for t in c["tried"]}) < 3]
    if small:
        return (
            f"{len(small)} of {len(choices)} rows tried fewer than three lrs, so whether their "
            "best lr lies beyond the grid cannot be told; try three or more "
            "(optim.optimizer.lr=...).\n"
        ) + (
            edge_sentence([c for c in choices if c not in small])
            if len(small) < len(choices)
            else ""
        )
    if not edge:
        return "Every chosen lr lies inside its grid.\n"
    named = ", ".join(f"{c['method']} at {labels(c)} ({lr(c['lr'])})" for c in edge)
    return (
        f"At the edge of the grid: {named}. Its best lr may lie beyond; widen the grid "
        "(optim.optimizer.lr=...) to be sure.\n"
    )


def _setting(setting: Row | None) -> str:
    """`ngrams=1 C=1000`."""
    return " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in (setting or {}).items()
    )


def classical_list(classical: list[Row]) -> str:
    """One line per classical row: the setting each seed chose on validation."""
    lines = []
    for c in classical:
        seeds = "; ".join(
            f"seed {x['seed']} {_setting(x['setting'])}"
            + ("" if x["val_acc"] is None else f" (val {100 * x['val_acc']:.1f}%)")
            for x in c["chosen"]
        )
        lines.append(f"- `{c['method']}` at {labels(c)} chose on validation: {seeds}\n")
    return "".join(lines)


def _count(labels: float) -> str:
    return f"{labels:.0f}"


def _bound(match: Row) -> str:
    """One end of a seed range: `84`, `≤10`, `>1000`."""
    if match["kind"] == "beyond":
        return f">{match['largest']}"
    return ("≤" if match["kind"] == "at_most" else "") + _count(match["labels"])


def saved_line(e: Row) -> str:
    """`simclr-linear with 10 labels ≈ scratch with 84 labels (8.4×; seeds 61–120)`."""
    n = e["num_labeled"]
    if e["match"] == "beyond":
        scratch = f"more than {e['scratch_largest']} labels (> {e['scratch_largest'] / n:.1f}×"
    else:
        le = "≤ " if e["match"] == "at_most" else ""
        scratch = f"{le}{_count(e['scratch_labels'])} labels ({le}{e['ratio']:.1f}×"
    low, high = (_bound(m) for m in e["seed_range"])
    spread = low if low == high else f"{low}–{high}"
    return f"- `{e['method']}` with {n} labels ≈ scratch with {scratch}; seeds {spread})\n"


def saved_list(entries: list[Row]) -> str:
    return "".join(saved_line(e) for e in entries)


def budget_table(points: list[Row]) -> str:
    rows = [
        [p["task"], p["mode"], labels(p), p["pretrain_epochs"], pm(*p["gain"], signed=True),
         pm(*p["acc"]), p["pairs"]]
        for p in points
    ]  # fmt: skip
    columns = ["task", "mode", "labels", "pretrain epochs", "gain (acc points)", "test acc %"]
    return table(columns + ["paired seeds"], rows)
