"""Keep a submodule's weights from its best validation epoch in memory (no checkpoint file)."""

from __future__ import annotations

import copy
import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class KeepBest(Callback):
    """After every validation, copy `pl_module.<attr>`'s state when `monitor` (higher is
    better) beats the best so far; `restore(pl_module)` loads that state back. LP-FT's first
    stage uses it for the head it hands to the second stage."""

    def __init__(self, attr: str = "head", monitor: str = "val/acc") -> None:
        self.attr, self.monitor = attr, monitor
        self.best = -math.inf
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or float(value) <= self.best:
            return
        self.best = float(value)
        self.state = copy.deepcopy(getattr(pl_module, self.attr).state_dict())

    def restore(self, pl_module: L.LightningModule) -> None:
        if self.state is not None:
            getattr(pl_module, self.attr).load_state_dict(self.state)
