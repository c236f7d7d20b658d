"""RotNet: rotation labels are right, and the pretext loss falls on real digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import logged, make_cfg

from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.rotation import rotate_batch


def test_rotations_and_labels_match():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    rotated, labels = rotate_batch(x)
    assert rotated.shape == (8, 1, 3, 3) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for j, k in enumerate(labels.tolist()):
        assert torch.equal(torch.rot90(rotated[j], -k, dims=(1, 2)), x[j % 2])
    assert torch.equal(rotated[2, 0, 0], x[0, 0, :, -1])  # 90 degrees counter-clockwise


def test_non_square_images_are_refused():
    with pytest.raises(ValueError, match="square"):
        rotate_batch(torch.zeros(1, 1, 4, 6))


@pytest.mark.slow
def test_loss_falls_on_digits(tmp_path: Path):
    cfg = make_cfg(
        "pretrain",
        ["task=rotation", "logger=csv", "trainer.max_epochs=5", "trainer.limit_train_batches=1.0"],
        tmp_path,
    )
    pretrain(cfg)
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 5 and epochs[-1] < 0.8 * epochs[0]
    accs = logged(tmp_path, "val/rot_acc")
    assert accs[-1] > 0.4  # above the 0.25 of guessing
