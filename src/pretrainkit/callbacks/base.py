"""What the representation monitors share: when to run, and the monitor set's features."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from pretrainkit.data.image.monitor import MonitorFeatures
from pretrainkit.errors import BadValueError


class MonitorCallback(Callback):
    """A callback that reads the pretrain data module's monitor set (`data.monitor`).

    Without one (or without labels, when `needs_labels`) it warns once and does nothing.
    """

    needs_labels: bool = True

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise BadValueError(f"every_n_epochs={every_n_epochs} must be >= 1.")
        self.every_n_epochs = every_n_epochs
        self._warned = False

    def due(self, trainer: L.Trainer) -> bool:
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def features(self, trainer: L.Trainer, pl_module: L.LightningModule) -> MonitorFeatures | None:
        """The monitor set embedded by `pl_module.backbone` at this step (shared, cached)."""
        monitor = getattr(trainer.datamodule, "monitor", None)
        if monitor is None or (self.needs_labels and not monitor.labeled):
            if not self._warned:
                what = "labeled monitor set" if self.needs_labels else "monitor set"
                rank_zero_warn(
                    f"{type(self).__name__}: the data module has no {what} (data.monitor); "
                    "skipping."
                )
                self._warned = True
            return None
        return monitor.features(pl_module.backbone, pl_module.device, key=trainer.global_step)
