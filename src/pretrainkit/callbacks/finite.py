"""Stop on a NaN or infinite loss before it reaches the weights, or before they are saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.run.resume import last_checkpoint

NONE = torch.iinfo(torch.long).max  # "no non-finite loss yet": the neutral element of a min


class NonFiniteLossError(FloatingPointError):
    """The training loss was NaN or infinite; no checkpoint was written with its effect."""


def check_interval(every_n_steps: int | None, device: torch.device, log_every_n_steps: int) -> int:
    """How many steps apart FiniteLoss reads its flag: `every_n_steps` if given; else every
    step on a CPU (there is no device to wait for) and, on an accelerator, the steps Lightning
    logs at (`trainer.log_every_n_steps`), where the host waits for the device anyway."""
    if every_n_steps is not None:
        return every_n_steps
    if device.type == "cpu":
        return 1
    return max(log_every_n_steps, 1)  # logging off (0): every step, the safe side


class FiniteLoss(Callback):
    """Raises `NonFiniteLossError` naming the step when the training loss is not finite.

    Each step's loss is tested on its own device and the first non-finite step is recorded
    there; the host reads the record (a host-device sync) only every `check_interval` steps.
    A check on the step itself runs before the backward pass, so with a check every step (the
    default on a CPU) the weights never see a NaN gradient. Between checks (the default on an
    accelerator) a bad step's update goes through, but the record is also read before every
    checkpoint is written, at each epoch's end and when training ends, so no checkpoint or
    export of its weights is ever written: the last checkpoint on disk is the last good one.
    Under DDP a check every step is per rank (a rank that raises ends the job); a check every
    N steps takes the minimum over ranks, since one rank's NaN gradient reaches every rank's
    weights through the gradient all-reduce.

    Args:
        every_n_steps: check every N steps; None: every step on a CPU, every
            `trainer.log_every_n_steps` steps on an accelerator.
    """

    def __init__(self, every_n_steps: Annotated[int, Range(ge=1)] | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise BadValueError(
                f"callbacks.finite_loss.every_n_steps={every_n_steps} must be >= 1."
            )
        self.every_n_steps = every_n_steps
        self._first: torch.Tensor | None = None  # () long: the first non-finite step, or NONE
        self._value: torch.Tensor | None = None  # () float: the loss at that step

    def interval(self, trainer: L.Trainer, pl_module: L.LightningModule) -> int:
        return check_interval(self.every_n_steps, pl_module.device, trainer.log_every_n_steps)

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        step, loss = trainer.global_step, loss.detach()
        if self._first is None or self._first.device != loss.device:
            self._first = torch.full((), NONE, dtype=torch.long, device=loss.device)
            self._value = torch.zeros((), device=loss.device)
        # Device-side only: `where` with a Python scalar queues a kernel and waits for nothing.
        new = ~torch.isfinite(loss).all() & (self._first == NONE)
        self._first = torch.where(new, step, self._first)
        self._value = torch.where(new, loss.float(), self._value)
        interval = self.interval(trainer, pl_module)
        if (step + 1) % interval == 0:
            self._check(trainer, interval, "at the check")

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Before the file is written: a checkpoint of weights updated with a NaN never exists.
        self._check(trainer, self.interval(trainer, pl_module), "before writing a checkpoint")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Before the monitors embed their images with these weights.
        self._check(trainer, self.interval(trainer, pl_module), "at the end of the epoch")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Before the backbone is exported (BackboneExport runs in on_fit_end, after this).
        self._check(trainer, self.interval(trainer, pl_module), "at the end of training")

    def _check(self, trainer: L.Trainer, interval: int, when: str) -> None:
        if self._first is None:
            return
        first = self._first.clone()
        if interval > 1:  # a rank's NaN reached every rank's weights since the last check
            first = trainer.strategy.reduce(first, reduce_op="min")
        bad_step = int(first)  # the host waits for the device here, once per check
        if bad_step == NONE:
            return
        value = self._value.item() if int(self._first) == bad_step else "not finite on another rank"
        raise NonFiniteLossError(self._message(trainer, bad_step, value, interval, when))

    @staticmethod
    def _message(trainer: L.Trainer, bad_step: int, value: Any, interval: int, when: str) -> str:
        last = last_checkpoint(Path(trainer.default_root_dir))
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        place = f"(epoch {trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx})"
        if bad_step == trainer.global_step and when == "at the check":
            what = f"the training loss is {value} at step {bad_step} {place}; training stopped "
            what += f"before updating the weights, {kept}."
        else:
            what = (
                f"the training loss was {value} at step {bad_step}, found {when} at step "
                f"{trainer.global_step} {place} (checked every {interval} steps: "
                "callbacks.finite_loss.every_n_steps); the weights took that step's update but "
                f"no checkpoint was written with it, {kept}."
            )
        return (
            f"{what} Lower optim.lr, add gradient clipping (+trainer.gradient_clip_val=1.0) or "
            "use precision=32-true; resume with resume=<run dir>."
        )
