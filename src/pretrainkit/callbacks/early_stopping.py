"""Early stopping that a config can leave off (`patience: null`) without removing the callback."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping

from pretrainkit.errors import BadValueError


class EarlyStopping(LightningEarlyStopping):
    """Lightning's `EarlyStopping` on `monitor`, checked after every validation; with
    `patience=None` it never stops a run (the fine-tune default: the budget decides, and
    `best.ckpt` already keeps the best epoch)."""

    def __init__(
        self, monitor: str = "val/acc", mode: str = "max", patience: int | None = None, **kwargs
    ) -> None:
        if patience is not None and patience < 1:
            raise BadValueError(
                f"callbacks.early_stopping.patience={patience} must be >= 1 (epochs without a "
                "better val/acc), or null to never stop early."
            )
        super().__init__(monitor=monitor, mode=mode, patience=patience or 0, **kwargs)
        self.enabled = patience is not None

    def _run_early_stopping_check(self, trainer: L.Trainer) -> None:
        if self.enabled:
            super()._run_early_stopping_check(trainer)
