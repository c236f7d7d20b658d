"""The corruption SCARF and VIME train on, and the two tabular data modules, on real rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pretrainkit.data.tabular.corrupt import MarginalCorruption
from pretrainkit.data.tabular.labeled import LabeledTableDataModule
from pretrainkit.data.tabular.mlbench import MLBench
from pretrainkit.data.tabular.unlabeled import UnlabeledTableDataModule
from pretrainkit.errors import BadValueError


@pytest.fixture(scope="module")
def letter(mlbench_root: str) -> MLBench:
    return MLBench("LetterRecognition", root=mlbench_root)


def test_subset_corruption_replaces_exactly_its_share_with_marginal_draws() -> None:
    # each row's features identify the row: row i holds i * 10 + j in column j
    rows = torch.arange(50 * 10, dtype=torch.float32).reshape(50, 10)
    corrupt = MarginalCorruption(rate=0.6, mode="subset").bind(rows)
    torch.manual_seed(0)
    for i in range(200):
        out = corrupt(rows[i % 50])
        mask = out["mask"].bool()
        assert int(mask.sum()) == 6
        assert torch.equal(out["corrupted"][~mask], rows[i % 50][~mask])
        # a replaced value is the same column's value of some training row
        drawn = out["corrupted"][mask]
        assert torch.equal(drawn % 10, torch.arange(10)[mask].float())


def test_draws_follow_each_columns_empirical_marginal() -> None:
    """Column 0 holds 0 in 90% of rows: about 90% of its draws are 0, not a uniform pick of its
    distinct values (50%)."""
    rows = torch.zeros(100, 2)
    rows[90:, 0] = 1.0
    rows[:, 1] = torch.arange(100).float()
    corrupt = MarginalCorruption(rate=1.0, mode="subset").bind(rows)
    torch.manual_seed(0)
    draws = torch.stack([corrupt(torch.full((2,), -1.0))["corrupted"] for _ in range(4000)])
    assert (draws[:, 0] == 0).float().mean().item() == pytest.approx(0.9, abs=0.02)
    assert draws[:, 1].unique().numel() > 90  # every training row can be drawn


def test_bernoulli_corruption_rate() -> None:
    rows = torch.randn(64, 20)
    corrupt = MarginalCorruption(rate=0.3, mode="bernoulli").bind(rows)
    torch.manual_seed(0)
    masks = torch.stack([corrupt(rows[0])["mask"] for _ in range(2000)])
    assert masks.mean().item() == pytest.approx(0.3, abs=0.01)
    assert (masks.sum(1) == 0).any()  # independent per feature: some rows keep every feature


def test_unlabeled_module_draws_from_its_training_rows_only(letter: MLBench) -> None:
    module = UnlabeledTableDataModule(
        letter, MarginalCorruption(0.6), batch_size=64, val_fraction=0.05
    )
    module.setup()
    assert module.backbone_kwargs == {"num_numeric": 16, "cardinalities": []}
    assert len(module.train_set) + len(module.val_set) == len(letter.unlabeled())
    assert torch.equal(module.transform.rows, letter.unlabeled().x[module.train_set.indices])
    batch = next(iter(module.train_dataloader()))
    assert set(batch) == {"x", "corrupted", "mask"}
    assert batch["x"].shape == batch["corrupted"].shape == batch["mask"].shape == (64, 16)
    assert torch.all(batch["mask"].sum(1) == 10)  # round(0.6 x 16)


def test_unlabeled_module_refuses_a_batch_larger_than_the_rows(mlbench_root: str) -> None:
    module = UnlabeledTableDataModule(
        MLBench("HouseVotes84", root=mlbench_root), MarginalCorruption(0.6), batch_size=1024
    )
    with pytest.raises(BadValueError, match="fewer than data.batch_size=1024"):
        module.setup()


def test_labeled_module_budget_and_baseline_splits(letter: MLBench) -> None:
    module = LabeledTableDataModule(letter, label_fraction=0.01, seed=3, batch_size=32)
    module.setup()
    counts = np.bincount(module.train_set.targets, minlength=26)
    assert counts.min() >= 1 and 120 <= counts.sum() <= 150  # 1% of ~14,400 rows, per class
    train_idx, val_idx = module.split_indices["train"], module.split_indices["val"]
    assert not set(train_idx) & set(val_idx)
    splits = module.labeled_splits()  # what a classical baseline fits: the same rows
    assert torch.equal(splits["train"].x, module.train_set.x)
    assert np.array_equal(splits["val"].targets, module.val_set.targets)
    assert len(splits["test"]) == len(letter.labeled("test"))
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (32, 16) and y.dtype == torch.long
    other = LabeledTableDataModule(letter, label_fraction=0.01, seed=4)
    other.setup()
    assert not np.array_equal(other.split_indices["train"], train_idx)  # seeded draws
