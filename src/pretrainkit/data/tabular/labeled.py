"""The tabular fine-tuning data module: a stratified labeled subset of rows, validation, test."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from pretrainkit.data.loader import LabeledLoaders
from pretrainkit.data.splits import check_label_budget, train_val_indices
from pretrainkit.data.tabular.sources import TabularSource
from pretrainkit.data.tabular.table import Rows
from pretrainkit.errors import BadValueError


class LabeledTableDataModule(LabeledLoaders):
    """Labeled rows for fine-tuning, with the image module's label semantics: `val_fraction` of
    every class of the source's train split held out for validation first, the labeled set then
    `label_fraction` of every class (at least one row each) or `labels_per_class` rows of every
    class, stratified and seeded; `test/*` from the source's test split. Rows are encoded with
    statistics of the training rows only (`TabularSource`).

    `augment_on` is accepted so recipes shared with images (`experiment=label_efficiency` sets
    it) run on tables too; rows get no augmentation, so it changes nothing."""

    def __init__(
        self,
        source: TabularSource,
        label_fraction: float | None = 1.0,
        labels_per_class: int | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = True,
        min_steps_per_epoch: int = 10,
        augment_on: Literal["auto", "cpu", "gpu"] = "auto",
    ) -> None:
        super().__init__()
        label_fraction = check_label_budget(label_fraction, labels_per_class, val_fraction)
        if batch_size < 1:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 1.")
        if min_steps_per_epoch < 0:
            raise BadValueError(f"data.min_steps_per_epoch={min_steps_per_epoch} must be >= 0.")
        self.source = source
        self.label_fraction, self.labels_per_class = label_fraction, labels_per_class
        self.val_fraction, self.seed = val_fraction, seed
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.min_steps_per_epoch = min_steps_per_epoch
        self.train_set: Rows | None = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def backbone_kwargs(self) -> dict[str, Any]:
        return self.source.schema.backbone_kwargs()

    def labeled_splits(self) -> dict[str, Rows]:
        """The labeled subset (`train`), the validation hold-out (`val`) and `test`: what a
        classical baseline fits and scores (`pretrainkit.baselines.tabular`)."""
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        return {
            "train": train.subset(chosen),
            "val": train.subset(val),
            "test": self.source.labeled("test"),
        }

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        test = self.source.labeled("test")
        self.train_set, self.val_set, self.test_set = train.subset(chosen), train.subset(val), test
        self.split_indices = {"train": chosen, "val": val, "test": np.arange(len(test))}
