"""Splits and label budgets: the train/test names every source serves, and stratified, seeded
index selection (label fractions, labels per class, held-out splits)."""

from __future__ import annotations

import numpy as np

from pretrainkit.errors import BadValueError

SPLITS = ("train", "test")  # the labeled splits a source returns


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")


def _by_class(targets: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """Each class's indices, shuffled by a generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    return {int(c): rng.permutation(np.flatnonzero(targets == c)) for c in np.unique(targets)}


def stratified_split(
    targets: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held_out) with `fraction` of every class held out.

    Every class with at least two examples keeps at least one on each side.
    """
    rest, held = [], []
    for idx in _by_class(np.asarray(targets), seed).values():
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1), len(idx) - 1) if len(idx) > 1 and fraction > 0 else k
        held.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def check_label_budget(
    label_fraction: float | None, labels_per_class: int | None, val_fraction: float
) -> float | None:
    """Validate a fine-tuning label budget; return the label fraction to use (None when
    `labels_per_class` is given: it wins, being the more specific request)."""
    if labels_per_class is not None:
        if labels_per_class < 1:
            raise BadValueError(f"labels_per_class={labels_per_class} must be >= 1.")
        label_fraction = None
    elif label_fraction is None or not 0 < label_fraction <= 1:
        raise BadValueError(
            f"label_fraction={label_fraction} is outside (0, 1]; use e.g. label_fraction=0.1 "
            "for 10% of the labels, or labels_per_class=N."
        )
    if not 0 < val_fraction < 1:
        raise BadValueError(f"data.val_fraction={val_fraction} must be in (0, 1).")
    return label_fraction


def labeled_subset(
    targets: np.ndarray,
    seed: int,
    fraction: float | None = None,
    per_class: int | None = None,
) -> np.ndarray:
    """Indices of a class-balanced labeled subset: `fraction` of each class (at least one
    example each) or exactly `per_class` examples of each class. Deterministic given `seed`.
    """
    chosen = []
    for cls, idx in _by_class(np.asarray(targets), seed).items():
        if per_class is not None:
            if per_class > len(idx):
                raise BadValueError(
                    f"labels_per_class={per_class} but class {cls} has only {len(idx)} training "
                    f"examples; lower labels_per_class to at most {len(idx)} or use label_fraction."
                )
            k = per_class
        else:
            k = max(1, int(round((fraction or 1.0) * len(idx))))
        chosen.append(idx[:k])
    return np.sort(np.concatenate(chosen))


def train_val_indices(
    targets: np.ndarray,
    val_fraction: float,
    seed: int,
    label_fraction: float,
    labels_per_class: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """A fine-tuning split of a labeled train set: the labeled subset drawn from what is left
    after a stratified validation hold-out, and that hold-out (indices into `targets`)."""
    pool, val = stratified_split(targets, val_fraction, seed)
    return pool[labeled_subset(targets[pool], seed, label_fraction, labels_per_class)], val
