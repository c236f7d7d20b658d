import numpy as np
import pytest

from pretrainkit.data.splits import labeled_subset, stratified_split

TARGETS = np.repeat(np.arange(10), [150, 140, 130, 120, 110, 100, 90, 80, 70, 60])  # imbalanced


def test_label_fraction_is_stratified_per_class():
    idx = labeled_subset(TARGETS, seed=0, fraction=0.1)
    counts = np.bincount(TARGETS[idx], minlength=10)
    assert counts.tolist() == [15, 14, 13, 12, 11, 10, 9, 8, 7, 6]


def test_tiny_fraction_keeps_one_example_per_class():
    idx = labeled_subset(TARGETS, seed=0, fraction=0.001)
    assert np.bincount(TARGETS[idx]).tolist() == [1] * 10


def test_labels_per_class_exact():
    idx = labeled_subset(TARGETS, seed=3, per_class=5)
    assert np.bincount(TARGETS[idx]).tolist() == [5] * 10


def test_labels_per_class_too_many_names_the_class():
    with pytest.raises(ValueError, match=r"labels_per_class=61 but class 9 has only 60"):
        labeled_subset(TARGETS, seed=0, per_class=61)


def test_subset_deterministic_given_seed_and_varies_with_it():
    a = labeled_subset(TARGETS, seed=7, fraction=0.05)
    b = labeled_subset(TARGETS, seed=7, fraction=0.05)
    c = labeled_subset(TARGETS, seed=8, fraction=0.05)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_smaller_fraction_is_not_nested_by_accident_but_sizes_grow():
    small = labeled_subset(TARGETS, seed=0, fraction=0.01)
    large = labeled_subset(TARGETS, seed=0, fraction=0.5)
    assert len(small) < len(large)
    # same seed, same per-class order: the small set is a prefix of each class's draw
    assert set(small) <= set(large)


def test_stratified_split_is_disjoint_and_complete():
    rest, held = stratified_split(TARGETS, 0.2, seed=0)
    assert not set(rest) & set(held)
    assert len(rest) + len(held) == len(TARGETS)
    assert np.bincount(TARGETS[held]).tolist() == [30, 28, 26, 24, 22, 20, 18, 16, 14, 12]
