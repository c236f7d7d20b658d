"""The pretraining data module: unlabeled images through a task's view transform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader

from pretrainkit.data.datasets import Transformed
from pretrainkit.data.loader import ResumableLoaders
from pretrainkit.data.monitor import MonitorSet
from pretrainkit.data.sources import ImageSource
from pretrainkit.data.splits import stratified_split


class UnlabeledDataModule(ResumableLoaders):
    """Unlabeled images for a pretext task.

    Args:
        source: where the images come from; its `unlabeled()` pool is used, labels never.
        transform: maps one image to what the task trains on (e.g. two augmented views).
        val_fraction: share of the pool held out for `val/*` pretext metrics (0 disables).
        seed: seeds the validation hold-out.
        monitor: optional images for the representation monitors (k-NN, probe, health, plot).
    """

    def __init__(
        self,
        source: ImageSource,
        transform: Callable[[Any], Any],
        batch_size: int = 256,
        num_workers: int = 0,
        val_fraction: float = 0.05,
        seed: int = 0,
        pin_memory: bool = True,
        monitor: MonitorSet | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size} must be >= 1.")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
        self.source, self.transform = source, transform
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed = val_fraction, seed
        self.monitor = monitor
        self.train_set: Transformed | None = None
        self.val_set: Transformed | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        pool = self.source.unlabeled()
        # The pool has no labels to stratify on: one class holds every image.
        train_idx, val_idx = stratified_split(pool.targets * 0, self.val_fraction, self.seed)
        if len(train_idx) < self.batch_size:  # drop_last would leave no batch at all
            raise ValueError(
                f"the unlabeled training pool has {len(train_idx)} images, fewer than "
                f"data.batch_size={self.batch_size}; lower data.batch_size."
            )
        if self.monitor is not None:  # fail now, not after the first epoch
            try:
                self.monitor.setup()
            except FileNotFoundError as err:
                raise FileNotFoundError(
                    f"{err} The k-NN, probe and embedding monitors need labeled images: pass "
                    "monitor=none, or monitor=[health] data.monitor.labeled=false."
                ) from err
        self.train_set = Transformed(pool, self.transform, train_idx, with_target=False)
        self.val_set = (
            Transformed(pool, self.transform, val_idx, with_target=False) if len(val_idx) else None
        )

    def _loader(self, dataset: Transformed, train: bool) -> DataLoader:
        # drop_last: equal batches on every rank (NT-Xent gathers them)
        return self.make_loader(dataset, train=train, drop_last=train)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, train=False) if self.val_set is not None else []
