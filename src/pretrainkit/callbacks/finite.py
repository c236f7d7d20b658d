"""Stop on a NaN or infinite loss before it reaches the weights."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from pretrainkit.resume import last_checkpoint


class NonFiniteLossError(FloatingPointError):
    """The training loss was NaN or infinite; the weights were not updated with it."""


class FiniteLoss(Callback):
    """Raises `NonFiniteLossError` naming the step when the training loss is not finite.

    Checked before the backward pass, so the weights never see a NaN gradient and no
    checkpoint of NaN weights is written: the last checkpoint on disk is the last good one.
    Under DDP every rank checks its own loss; a rank that raises ends the job.
    """

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if torch.isfinite(loss).all():
            return
        last = last_checkpoint(Path(trainer.default_root_dir))
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"the training loss is {loss.item()} at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}); training "
            f"stopped before updating the weights, {kept}. Lower optim.lr, add gradient clipping "
            "(+trainer.gradient_clip_val=1.0) or use precision=32-true; resume with resume=<run dir>."
        )
