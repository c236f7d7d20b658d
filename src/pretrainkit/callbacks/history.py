"""Per-epoch validation metrics kept for `metrics.json`, so a report can read learning curves
(and the epochs a fine-tune needed to converge) without any logger."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback


class MetricHistory(Callback):
    """Records `keys` from the trainer's metrics after every validation epoch.

    `history` is `{"epoch": [1, 2, ...], key: [value, ...]}`; a key not logged in an epoch
    gets None there (null in JSON). Stored in checkpoints, so a resumed run keeps its earlier epochs.
    """

    def __init__(self, keys: tuple[str, ...] | list[str] = ("val/acc", "val/loss")) -> None:
        self.keys = list(keys)
        self.history: dict[str, list[float | None]] = {"epoch": [], **{k: [] for k in self.keys}}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after the epoch's metrics are computed (ModelCheckpoint reads them here too)
        if trainer.sanity_checking:
            return
        self.record(trainer, trainer.current_epoch + 1)

    def record(self, trainer: L.Trainer, epoch: int) -> None:
        if not trainer.is_global_zero or epoch in self.history["epoch"]:
            return
        metrics = trainer.callback_metrics
        self.history["epoch"].append(epoch)
        for key in self.keys:
            value = metrics.get(key)
            self.history[key].append(float(value) if value is not None else None)

    def state_dict(self) -> dict[str, dict[str, list[float | None]]]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, dict[str, list[float | None]]]) -> None:
        self.history = state_dict["history"]


class EpochHistory(MetricHistory):
    """A pretraining's per-epoch curve (`history.json`): `keys` as they stand once an epoch
    has ended, validation and the monitors' `on_train_epoch_end` (k-NN, probe) included.
    Read at the next epoch's start and at the end of training, so it does not depend on the
    order in which callbacks run their epoch-end hooks."""

    def __init__(self, keys: tuple[str, ...] | list[str] = ("train/loss", "val/loss")) -> None:
        super().__init__(keys)
        self.history["minutes"] = []  # training wall time at each epoch's end (this launch's)
        self._started = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()

    def record(self, trainer: L.Trainer, epoch: int) -> None:
        if trainer.is_global_zero and epoch not in self.history["epoch"]:
            self.history.setdefault("minutes", []).append((time.monotonic() - self._started) / 60)
        super().record(trainer, epoch)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass  # the epoch's monitors may not have logged yet

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch > 0 and trainer.callback_metrics:  # (empty right after a resume)
            self.record(trainer, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ended = trainer.current_epoch + 1  # 1-based, as `epoch` counts

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if ended := getattr(self, "_ended", 0):
            self.record(trainer, ended)
