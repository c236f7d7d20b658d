"""The image fine-tuning data module: a stratified labeled subset, a validation split, the test
split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pretrainkit.augment.on_device import (
    AugmentOn,
    Decode,
    augment_batch,
    augments_on_device,
    collate_seeded,
)
from pretrainkit.data.image.datasets import TensorImages
from pretrainkit.data.image.sources import ImageSource
from pretrainkit.data.loader import LabeledLoaders
from pretrainkit.data.splits import check_label_budget, train_val_indices
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError


class LabeledDataModule(LabeledLoaders):
    """Labeled images for fine-tuning and evaluation.

    From the source's labeled train split, `val_fraction` of every class is held out for
    validation first; the labeled training set is then drawn from the rest, either
    `label_fraction` of every class (at least one image each) or `labels_per_class` images of
    every class. Both draws are stratified and deterministic given `seed`. `test/*` metrics use
    the source's test split. An epoch gives every rank at least `min_steps_per_epoch` full
    batches, passing over a small labeled set several times (each pass shuffled and augmented
    anew); 0 keeps one pass per epoch. With `cache_eval`, validation and test images of in-memory
    sources are transformed once and kept (the eval transform is deterministic).
    """

    def __init__(
        self,
        source: ImageSource,
        train_transform: Callable[[Any], Any],
        eval_transform: Callable[[Any], Any],
        label_fraction: float | None = 1.0,
        labels_per_class: int | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = True,
        cache_eval: bool = True,
        min_steps_per_epoch: int = 0,
        augment_on: AugmentOn = "auto",
        device_transform: Callable[[torch.Tensor], Any] | None = None,
        decode_size: int | None = None,
    ) -> None:
        super().__init__()
        if min_steps_per_epoch < 0:
            raise BadValueError(f"data.min_steps_per_epoch={min_steps_per_epoch} must be >= 0.")
        self.min_steps_per_epoch = min_steps_per_epoch
        label_fraction = check_label_budget(label_fraction, labels_per_class, val_fraction)
        if batch_size < 1:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 1.")
        self.source = source
        self.train_transform, self.eval_transform = train_transform, eval_transform
        self.label_fraction, self.labels_per_class = label_fraction, labels_per_class
        self.val_fraction, self.seed = val_fraction, seed
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.cache_eval = cache_eval
        self.augment_on, self.device_transform = augment_on, device_transform
        self.decode_size = decode_size
        self.on_device = False  # decided in setup(), when the trainer's device is known
        self.train_set: Transformed | None = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        # training views made on the device, whole batches at once (data.augment_on), when the
        # recipe has a batched twin: the loader then only decodes uint8 images
        has_twin = self.device_transform is not None and self.decode_size is not None
        self.on_device = has_twin and augments_on_device(self.augment_on, self.trainer)
        if self.on_device:
            self.train_set = Transformed(train, Decode(self.decode_size), chosen, with_seed=True)  # type: ignore[arg-type]
        else:
            self.train_set = Transformed(train, self.train_transform, chosen)
        test = self.source.labeled("test")
        cache = self.cache_eval and isinstance(train, TensorImages)  # files could outgrow memory
        self.val_set = Transformed(train, self.eval_transform, val, cache=cache)
        self.test_set = Transformed(test, self.eval_transform, cache=cache)
        self.split_indices = {"train": chosen, "val": val, "test": np.arange(len(test))}

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, True, collate_seeded if self.on_device else None)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.on_device and isinstance(batch[1], int):  # ((uint8 images, targets), batch seed)
            (images, targets), seed = batch
            return augment_batch(self.device_transform, (images, seed)), targets  # type: ignore[arg-type]
        return batch

    def probe_sets(self) -> dict[str, tuple[Any, np.ndarray]]:
        sets = super().probe_sets()
        train = self.train_set
        sets["train"] = (
            Transformed(train.dataset, self.eval_transform, train.indices),
            train.indices,
        )
        return sets
