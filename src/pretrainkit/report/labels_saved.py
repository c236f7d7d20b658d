"""Labels saved, in one number: how many labels the best scratch method needs to match a
pretrained row's test accuracy."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pretrainkit.report.tables import by_seed, groups

Row = dict[str, Any]
Curve = list[tuple[int, float]]  # (num_labeled, test acc %), increasing num_labeled


@dataclass(frozen=True)
class Match:
    """Scratch labels matching an accuracy. `within`: interpolated; `at_most`: scratch already
    matches at its smallest budget (labels = that budget); `beyond`: scratch never matches
    (labels None, `largest` its largest budget)."""

    labels: float | None
    kind: Literal["within", "at_most", "beyond"]
    largest: int

    def order(self) -> float:
        return math.inf if self.labels is None else self.labels


def scratch_curve(summary: list[Row]) -> Curve:
    """The best scratch method per label budget: the max over scratch modes of the chosen-lr
    mean test accuracy."""
    best: dict[int, float] = {}
    for s in summary:
        if s["source"] == "scratch" and s["num_labeled"]:
            best[s["num_labeled"]] = max(best.get(s["num_labeled"], -math.inf), s["acc"][0])
    return sorted(best.items())


def labels_to_match(curve: Curve, acc: float) -> Match:
    """The labels N at which `curve` first reaches `acc`, interpolating linearly in
    log(num_labeled) between the two budgets around the first crossing (budgets walked in
    increasing order, so a non-monotone curve gives its first crossing)."""
    (n_min, a_min), largest = curve[0], curve[-1][0]
    if a_min >= acc:
        return Match(n_min, "at_most", largest)
    for (n0, a0), (n1, a1) in zip(curve, curve[1:], strict=False):
        if a1 >= acc:  # a0 < acc: every earlier budget fell short
            t = (acc - a0) / (a1 - a0)
            return Match(
                math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))), "within", largest
            )
    return Match(None, "beyond", largest)


def _entry(s: Row, members: list[Row], curve: Curve) -> Row:
    n = s["num_labeled"]
    match = labels_to_match(curve, s["acc"][0])
    seeds = {seed: labels_to_match(curve, acc) for seed, acc in sorted(by_seed(members).items())}
    low, high = min(seeds.values(), key=Match.order), max(seeds.values(), key=Match.order)
    return {
        "method": s["method"], "source": s["source"], "mode": s["mode"], "labels": s["labels"],
        "num_labeled": n, "acc": s["acc"][0], "scratch_labels": match.labels,
        "match": match.kind, "scratch_largest": match.largest,
        "ratio": None if match.labels is None else match.labels / n,
        "seed_range": [asdict(low), asdict(high)],
        "per_seed": [{"seed": seed, **asdict(m)} for seed, m in seeds.items()],
    }  # fmt: skip


def labels_saved(rows: list[Row], summary: list[Row]) -> list[Row]:
    """Per pretrained report row: the scratch labels matching its mean test accuracy, the
    ratio to its own labels, and the range over fine-tune seeds (each seed's accuracy against
    the same mean scratch curve). Empty without scratch rows. Classical baselines pretrained
    nothing: left out (and not part of the scratch curve)."""
    curve = scratch_curve(summary)
    if not curve:
        return []
    grouped = {(s["source"], s["mode"], s["labels"]): s for s in summary}
    result = [
        _entry(grouped[key], members, curve)
        for key, members in groups(rows).items()
        if key[0] != "scratch" and not grouped[key]["classical"] and grouped[key]["num_labeled"]
    ]
    return sorted(result, key=lambda e: (e["num_labeled"], e["method"]))
