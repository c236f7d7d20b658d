"""The progress bar shows the training loss as of the last logging step, and the epoch mean at
the epoch's end, reading it on no other step."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pretrainkit.callbacks import LoggedMetricsBar


class Regression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer, self.losses = nn.Linear(4, 1), []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        self.losses.append(loss.item())
        self.log("train/loss", loss, on_step=True, on_epoch=True)  # not on Lightning's bar
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Shown(L.Callback):
    """What the bar would show after each batch, and at the epoch's end."""

    def __init__(self, bar: LoggedMetricsBar) -> None:
        self.bar, self.after_batch, self.at_epoch_end = bar, [], {}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any):
        self.after_batch.append(dict(self.bar._shown))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.at_epoch_end = self.bar.get_metrics(trainer, pl_module)


def test_the_bar_reads_the_loss_on_logging_steps_and_the_epoch_mean_at_its_end():
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(40, 4), torch.randn(40, 1)), batch_size=8)
    bar = LoggedMetricsBar(keys=["train/loss", "train/absent"])
    shown, model = Shown(bar), Regression()
    trainer = L.Trainer(
        max_epochs=1,
        log_every_n_steps=2,
        callbacks=[bar, shown],  # the bar's hooks run first
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    loss = [pytest.approx(v) for v in model.losses]
    assert [s.get("train/loss") for s in shown.after_batch] == [
        None,  # nothing logged yet
        loss[1],  # logging steps: 2 and 4
        loss[1],
        loss[3],
        loss[3],
    ]
    assert shown.at_epoch_end["train/loss"] == pytest.approx(sum(model.losses) / 5)
    assert "train/absent" not in shown.at_epoch_end
