"""The tabular pretraining data module: unlabeled rows, each with its corrupted twin."""

from __future__ import annotations

from typing import Any

import numpy as np

from pretrainkit.data.image.monitor import MonitorSet
from pretrainkit.data.loader import PoolLoaders
from pretrainkit.data.splits import stratified_split
from pretrainkit.data.tabular.corrupt import MarginalCorruption
from pretrainkit.data.tabular.sources import TabularSource
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError


class UnlabeledTableDataModule(PoolLoaders):
    """Rows for a tabular pretext task: every training row of the source (never a test row),
    less a `val_fraction` hold-out for `val/*`; a batch is `{"x", "corrupted", "mask"}`
    (`MarginalCorruption`, drawing from the training rows).

    Args:
        source: the table; its `unlabeled()` rows are used, labels never.
        transform: the task's corruption recipe (`augment.views`).
        monitor: rows for the representation monitors (k-NN, probe, health, plot).
    """

    def __init__(
        self,
        source: TabularSource,
        transform: MarginalCorruption,
        batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool = True,
        val_fraction: float = 0.05,
        seed: int = 0,
        monitor: MonitorSet | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 2:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 2.")
        if not 0 <= val_fraction < 1:
            raise BadValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
        self.source, self.transform = source, transform
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed = val_fraction, seed
        self.monitor = monitor
        self.train_set: Transformed | None = None
        self.val_set: Transformed | None = None

    @property
    def backbone_kwargs(self) -> dict[str, Any]:
        """The columns a backbone must read: numeric count and category counts."""
        return self.source.schema.backbone_kwargs()

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        pool = self.source.unlabeled()
        train_idx, val_idx = stratified_split(np.zeros(len(pool)), self.val_fraction, self.seed)
        if len(train_idx) < self.batch_size:  # drop_last would leave no batch at all
            raise BadValueError(
                f"the unlabeled training rows are {len(train_idx)}, fewer than "
                f"data.batch_size={self.batch_size}; lower data.batch_size."
            )
        if self.monitor is not None:
            self.monitor.setup()
        self.transform.bind(pool.x[train_idx])  # draws from training rows only
        self.train_set = Transformed(pool, self.transform, train_idx, with_target=False)
        self.val_set = (
            Transformed(pool, self.transform, val_idx, with_target=False) if len(val_idx) else None
        )
