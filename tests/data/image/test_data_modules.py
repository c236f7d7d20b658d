"""The data modules: label fractions, validation carving, view batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate


def labeled(tmp_path: Path, *overrides: str):
    return instantiate(make_cfg("finetune", list(overrides), tmp_path).data)


def test_label_fraction_draws_balanced_labels_after_val(tmp_path: Path):
    dm = labeled(tmp_path, "label_fraction=0.1")
    dm.setup()
    train_targets = dm.train_set.dataset.targets[dm.train_set.indices]
    assert np.bincount(train_targets).min() >= 11 and np.bincount(train_targets).max() <= 14
    assert not set(dm.train_set.indices) & set(dm.val_set.indices)  # val never trains
    assert len(dm.val_set) == 143 and len(dm.test_set) == 359


def test_labels_per_class_and_same_seed_same_labels(tmp_path: Path):
    a, b = labeled(tmp_path, "labels_per_class=3"), labeled(tmp_path, "labels_per_class=3")
    assert a.num_labeled == 30
    b.setup()
    assert np.array_equal(a.train_set.indices, b.train_set.indices)
    c = labeled(tmp_path, "labels_per_class=3", "seed=1")
    c.setup()
    assert not np.array_equal(a.train_set.indices, c.train_set.indices)


@pytest.mark.parametrize("value", ["1.5", "0", "-0.1"])
def test_label_fraction_out_of_range_is_refused(tmp_path: Path, value: str):
    with pytest.raises(Exception, match=rf"label_fraction={value} is outside \(0, 1\]"):
        labeled(tmp_path, f"label_fraction={value}")


def test_batches_have_the_right_shapes(tmp_path: Path):
    dm = labeled(tmp_path, "label_fraction=0.1")
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == torch.int64
    views = instantiate(make_cfg("pretrain", [], tmp_path).data)
    views.setup()
    v1, v2 = next(iter(views.train_dataloader()))
    assert v1.shape == v2.shape == (256, 1, 8, 8)
    assert not torch.equal(v1, v2)  # two different augmentations of the same images


def test_unlabeled_batch_larger_than_pool_is_refused(tmp_path: Path):
    dm = instantiate(make_cfg("pretrain", ["data.batch_size=5000"], tmp_path).data)
    with pytest.raises(ValueError, match="fewer than data.batch_size=5000"):
        dm.setup()
