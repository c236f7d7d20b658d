"""The image pretraining data module: unlabeled images through a task's view transform."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader

from pretrainkit.augment.on_device import (
    AugmentOn,
    Decode,
    augment_batch,
    augments_on_device,
    collate_seeded,
)
from pretrainkit.data.image.monitor import MonitorSet
from pretrainkit.data.image.sources import ImageSource
from pretrainkit.data.loader import ResumableLoaders
from pretrainkit.data.splits import stratified_split
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError, MissingFileError

log = logging.getLogger(__name__)


class UnlabeledDataModule(ResumableLoaders):
    """Unlabeled images for a pretext task.

    Args:
        source: where the images come from; its `unlabeled()` pool is used, labels never.
        transform: maps one image to what the task trains on (e.g. two augmented views).
        augment_on: where the views are made: `cpu`, image by image in the loader (`transform`);
            `gpu`, whole batches on the training device after the transfer (`device_transform`,
            the loader then only decodes to uint8 at `decode_size`); `auto`, gpu when training
            on a GPU and the recipe has a `device_transform`.
        device_transform: uint8 batch -> the same views (`pretrainkit.augment.BatchViews`).
        decode_size: the square size images are decoded to for `augment_on=gpu`.
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
        augment_on: AugmentOn = "auto",
        device_transform: Callable[[torch.Tensor], Any] | None = None,
        decode_size: int | None = None,
    ) -> None:
        super().__init__()
        if augment_on == "gpu" and (device_transform is None or decode_size is None):
            raise BadValueError(
                "data.augment_on=gpu needs data.device_transform and data.decode_size (the "
                "recipe's augment.device_views and the image size); set data.augment_on=cpu."
            )
        if batch_size < 1:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 1.")
        if not 0 <= val_fraction < 1:
            raise BadValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
        self.source, self.transform = source, transform
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed = val_fraction, seed
        self.monitor = monitor
        self.augment_on, self.device_transform = augment_on, device_transform
        self.decode_size = decode_size
        self.on_device = False  # decided in setup(), when the trainer's device is known
        self.train_set: Transformed | None = None
        self.val_set: Transformed | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        pool = self.source.unlabeled()
        # The pool has no labels to stratify on: one class holds every image.
        train_idx, val_idx = stratified_split(pool.targets * 0, self.val_fraction, self.seed)
        if len(train_idx) < self.batch_size:  # drop_last would leave no batch at all
            raise BadValueError(
                f"the unlabeled training pool has {len(train_idx)} images, fewer than "
                f"data.batch_size={self.batch_size}; lower data.batch_size."
            )
        if self.monitor is not None:  # fail now, not after the first epoch
            try:
                self.monitor.setup()
            except FileNotFoundError as err:
                raise MissingFileError(
                    f"{err} The k-NN, probe and embedding monitors need labeled images: pass "
                    "monitor=none, or monitor=[health] data.monitor.labeled=false."
                ) from err
        # (auto with a recipe that has no batched twin: per image on the CPU)
        has_twin = self.device_transform is not None and self.decode_size is not None
        self.on_device = has_twin and augments_on_device(self.augment_on, self.trainer)
        if self.on_device:
            transform, kwargs = Decode(self.decode_size), {"with_seed": True}  # type: ignore[arg-type]
            log.info("augmenting whole batches on the training device (data.augment_on)")
        else:
            transform, kwargs = self.transform, {}
        self.train_set = Transformed(pool, transform, train_idx, with_target=False, **kwargs)
        self.val_set = (
            Transformed(pool, transform, val_idx, with_target=False, **kwargs)
            if len(val_idx)
            else None
        )

    def _loader(self, dataset: Transformed, train: bool) -> DataLoader:
        # drop_last: equal batches on every rank (NT-Xent gathers them)
        collate = collate_seeded if self.on_device else None
        return self.make_loader(dataset, train=train, drop_last=train, collate_fn=collate)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, train=False) if self.val_set is not None else []

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return augment_batch(self.device_transform, batch) if self.on_device else batch  # type: ignore[arg-type]
