"""A NaN or infinite loss stops training naming the step, before the weights see it."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pretrainkit.callbacks import FiniteLoss, NonFiniteLossError
from pretrainkit.checkpoint_io import AtomicCheckpointIO


class Blows(L.LightningModule):
    """A linear regression whose loss becomes `bad` at step `at`."""

    def __init__(self, at: int, bad: float) -> None:
        super().__init__()
        self.layer, self.at, self.bad = nn.Linear(4, 1), at, bad

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        return loss * self.bad if self.global_step == self.at else loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_stops_at_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path, bad: float):
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
    model = Blows(at=5, bad=bad)
    every_step = ModelCheckpoint(tmp_path, filename="step", every_n_train_steps=1, save_top_k=1)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        callbacks=[FiniteLoss(), every_step],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(NonFiniteLossError, match=rf"loss is {bad} at step 5 \(epoch 0, batch 5\)"):
        trainer.fit(model, data)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # never updated with it
    saved = torch.load(tmp_path / "step.ckpt", weights_only=True)
    assert saved["global_step"] == 5  # the step before the bad one
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    for name, value in model.state_dict().items():  # nothing moved since that save
        assert torch.equal(saved["state_dict"][name], value)
