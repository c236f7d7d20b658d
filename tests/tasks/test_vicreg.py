"""VICReg on real digits: the loss and its invariance term fall, and every term is logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import logged, make_cfg

from pretrainkit.pretrain import pretrain


@pytest.mark.slow
def test_loss_falls_on_digits(tmp_path: Path):
    # A 256-wide expander at batch 64 keeps the defaults' width-to-batch ratio (1024 at 256)
    # at a fraction of the CPU time.
    overrides = [
        "task=vicreg",
        "task.expander_dim=256",
        "data.batch_size=64",
        "monitor=none",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=10",
    ]
    metrics = pretrain(make_cfg("pretrain", overrides, tmp_path))

    epochs = logged(tmp_path, "train/loss_epoch")  # measured: 22.07, 21.49, 21.24, 21.00
    assert len(epochs) == 4 and epochs == sorted(epochs, reverse=True)
    assert epochs[-1] < 0.97 * epochs[0]
    invariance = logged(tmp_path, "train/invariance_epoch")  # measured: 0.19 -> 0.12
    assert invariance[-1] < 0.75 * invariance[0]
    for term in ("invariance", "variance", "covariance"):
        assert f"train/{term}_epoch" in metrics and f"val/{term}" in metrics
    assert "val/loss" in metrics
