"""N-shot evaluation: N labeled examples of every class, drawn from the labeled training
split (several seeds), the validation and test splits unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pretrainkit.data.splits import labeled_subset, train_val_indices
from pretrainkit.errors import BadValueError


def check_shot_settings(shots: Sequence[int], seeds: Sequence[int]) -> None:
    """Shot counts >= 1 and, when there are any, at least one seed (the config's values alone)."""
    if any(n < 1 for n in shots):
        raise BadValueError(f"eval.shots={list(shots)}: shot counts must be >= 1, e.g. [1,5,10].")
    if shots and not seeds:
        raise BadValueError(
            f"eval.shots={list(shots)} but eval.shot_seeds=[]: give the seeds that draw the "
            "shots, e.g. eval.shot_seeds=[0,1,2]."
        )


def labeled_train_targets(datamodule: Any) -> np.ndarray:
    """The classes of the labeled training examples, in the order the data module's train
    split holds them, read from its source's targets without building its datasets."""
    targets = np.asarray(datamodule.source.labeled("train").targets)
    chosen, _ = train_val_indices(
        targets, datamodule.val_fraction, datamodule.seed, datamodule.label_fraction,
        datamodule.labels_per_class,
    )  # fmt: skip
    return targets[chosen]


def check_shots_fit(shots: Sequence[int], targets: np.ndarray, budget: str) -> None:
    """Every shot count is at most the labeled examples of the smallest class (`budget`: the
    label budget they were drawn at, for the message)."""
    if not shots:
        return
    classes, counts = np.unique(targets, return_counts=True)
    smallest = int(np.argmin(counts))
    if max(shots) > counts[smallest]:
        larger = "" if budget.startswith("100%") else " (or a larger label budget)"
        raise BadValueError(
            f"eval.shots={list(shots)}: class {classes[smallest]} has only {counts[smallest]} "
            f"labeled training examples at {budget}; use shot counts up to {counts[smallest]}"
            f"{larger}."
        )


def shot_indices(targets: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """Indices (into `targets`) of `shots` examples of every class, drawn by `seed`; for one
    seed, the draws of fewer shots are subsets of those of more (each class's examples are
    shuffled once, the first N taken)."""
    return labeled_subset(targets, seed, per_class=shots)
