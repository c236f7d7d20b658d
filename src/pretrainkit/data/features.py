"""A frozen backbone's features as a labeled data module: a linear probe trains on them
without running the backbone again (once per image, not once per epoch and learning rate)."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from pretrainkit.data.loader import LabeledLoaders

Features = dict[str, tuple[torch.Tensor, torch.Tensor]]  # split -> ((N, D) features, (N,) targets)


class FeatureDataModule(LabeledLoaders):
    """`features["train"|"val"|"test"]` served in batches, with the labeled module's epoch
    rule (`min_steps_per_epoch`) and resumable order."""

    def __init__(
        self,
        features: Features,
        num_classes: int,
        batch_size: int = 128,
        min_steps_per_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set, self.test_set = (
            TensorDataset(*features[split]) for split in ("train", "val", "test")
        )
        self._num_classes = num_classes
        self.batch_size, self.min_steps_per_epoch = batch_size, min_steps_per_epoch
        self.num_workers, self.pin_memory = 0, False  # tensors in memory: nothing to overlap

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def setup(self, stage: str | None = None) -> None:
        pass
