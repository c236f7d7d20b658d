"""Per-epoch validation metrics kept for `metrics.json`, so a report can read learning curves
(and the epochs a fine-tune needed to converge) without any logger."""

from __future__ import annotations

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
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        self.history["epoch"].append(trainer.current_epoch + 1)
        for key in self.keys:
            value = metrics.get(key)
            self.history[key].append(float(value) if value is not None else None)

    def state_dict(self) -> dict[str, dict[str, list[float | None]]]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, dict[str, list[float | None]]]) -> None:
        self.history = state_dict["history"]
