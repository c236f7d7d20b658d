"""A NaN or infinite loss stops training naming the step, before the weights see it."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pretrainkit.callbacks import FiniteLoss, NonFiniteLossError
from pretrainkit.callbacks.finite import check_interval
from pretrainkit.run.checkpoint_io import AtomicCheckpointIO


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


def blowing_run(
    tmp_path: Path, callbacks: list[L.Callback], at: int
) -> tuple[L.Trainer, Blows, DataLoader]:
    """A trainer for one epoch of 8 batches, and a model whose loss is NaN at step `at`."""
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return trainer, Blows(at=at, bad=math.nan), data


@pytest.mark.parametrize(
    ("every", "found"),
    [
        (4, "found at the check at step 7"),  # checks before the updates of steps 3 and 7
        (100, "found at the end of the epoch at step 8"),  # no check within the 8 steps
    ],
)
def test_every_n_steps_names_the_bad_step_at_the_next_check(tmp_path: Path, every: int, found: str):
    trainer, model, data = blowing_run(tmp_path, [FiniteLoss(every_n_steps=every)], at=5)
    with pytest.raises(NonFiniteLossError, match=rf"loss was nan at step 5, {found} .*took that"):
        trainer.fit(model, data)


def test_every_n_steps_writes_no_checkpoint_after_the_bad_step(tmp_path: Path):
    every_step = ModelCheckpoint(tmp_path, filename="step", every_n_train_steps=1, save_top_k=1)
    trainer, model, data = blowing_run(tmp_path, [FiniteLoss(every_n_steps=4), every_step], at=5)
    with pytest.raises(NonFiniteLossError, match="at step 5, found before writing a checkpoint"):
        trainer.fit(model, data)
    saved = torch.load(tmp_path / "step.ckpt", weights_only=True)
    assert saved["global_step"] == 5  # written before the bad step's update, never after
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_every_n_steps_on_a_check_step_stops_before_the_update(tmp_path: Path):
    trainer, model, data = blowing_run(tmp_path, [FiniteLoss(every_n_steps=4)], at=7)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 7 \(epoch 0, batch 7\)"):
        trainer.fit(model, data)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("every", "device", "log_every", "interval"),
    [
        (None, "cpu", 10, 1),  # nothing to wait for: every step, before the backward pass
        (None, "cuda", 10, 10),  # on the steps where Lightning reads metrics anyway
        (None, "cuda", 0, 1),  # logging off: every step
        (3, "cpu", 10, 3),
        (3, "cuda", 10, 3),
    ],
)
def test_check_interval(every: int | None, device: str, log_every: int, interval: int):
    assert check_interval(every, torch.device(device), log_every) == interval


def test_every_n_steps_below_one_is_refused():
    with pytest.raises(ValueError, match="every_n_steps=0 must be >= 1"):
        FiniteLoss(every_n_steps=0)


def fake_trainer(tmp_path: Path, step: int, reduced: int | None = None) -> SimpleNamespace:
    """What FiniteLoss reads of a trainer; `reduced`: the step the other ranks' minimum gives."""

    def reduce(t: torch.Tensor, reduce_op: str) -> torch.Tensor:
        assert reduce_op == "min"
        return t if reduced is None else torch.minimum(t, torch.tensor(reduced))

    return SimpleNamespace(
        global_step=step,
        log_every_n_steps=50,
        default_root_dir=tmp_path,
        current_epoch=0,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_idx=step)),
        strategy=SimpleNamespace(reduce=reduce),
    )


def test_a_deferred_check_takes_the_first_bad_step_over_all_ranks(tmp_path: Path):
    """A NaN on another rank reaches this rank's weights through the gradient all-reduce, so a
    check every N steps takes the minimum of the ranks' records (a stand-in strategy here)."""
    callback, task = FiniteLoss(every_n_steps=4), SimpleNamespace(device=torch.device("cpu"))
    for step in range(3):  # finite here; another rank's loss was not at step 2
        callback.on_before_backward(fake_trainer(tmp_path, step, 2), task, torch.tensor(1.0))
    with pytest.raises(NonFiniteLossError, match="was not finite on another rank at step 2"):
        callback.on_before_backward(fake_trainer(tmp_path, 3, 2), task, torch.tensor(1.0))
