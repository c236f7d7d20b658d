"""Barlow Twins on real digits: the loss falls, with both sums logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import logged, make_cfg

from pretrainkit.pretrain import pretrain


@pytest.mark.slow
def test_loss_falls_on_digits(tmp_path: Path):
    # A 256-wide projector at batch 64 keeps the defaults' width-to-batch ratio (1024 at 256),
    # and with it the balance λ sets, at a fraction of the CPU time.
    overrides = [
        "task=barlow",
        "task.projector_dim=256",
        "data.batch_size=64",
        "monitor=none",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=10",
    ]
    metrics = pretrain(make_cfg("pretrain", overrides, tmp_path))
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 4 and epochs[-1] < 0.7 * epochs[0]  # measured: 232 -> 113
    on_diag = logged(tmp_path, "train/on_diag_epoch")
    assert on_diag[-1] < 0.7 * on_diag[0]
    assert {"train/off_diag_epoch", "val/on_diag", "val/off_diag", "val/loss"} <= metrics.keys()
