"""DataLoaders shared by the data modules of every kind of data: resumable order, workers,
pinned memory, and the train/val/test loaders of a fine-tuning module."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Dataset

from pretrainkit.data.sampling import EpochSampler, epoch_repeats
from pretrainkit.data.transformed import Transformed


def loader_kwargs(
    batch_size: int, num_workers: int, pin_memory: bool, trainer: Any | None
) -> dict[str, Any]:
    """Per-device batch size, workers kept alive between epochs, pinned memory only on GPU."""
    on_gpu = trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
    return {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "pin_memory": pin_memory and on_gpu,
    }


# Lightning warns of mid-epoch resumes unless the loaders have a state_dict(); ours resume
# exactly through the data module's state instead (below).
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")


class ResumableLoaders(L.LightningDataModule):
    """A data module whose loaders a checkpoint can resume mid-epoch.

    Its `state_dict` (saved in every checkpoint) records the epoch and how many training
    batches of it were trained on; after a restore, the next training loader starts that epoch
    at the next batch, in the same order (an `EpochSampler` seeded with the run's seed).
    """

    batch_size: int
    num_workers: int
    pin_memory: bool
    _resume_at: tuple[int, int] | None = None

    def make_loader(
        self,
        dataset: Dataset,
        train: bool,
        drop_last: bool,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        repeats: int = 1,
    ) -> DataLoader:
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = EpochSampler(
            dataset,
            num_replicas=world,
            rank=rank,
            shuffle=train,
            seed=torch.initial_seed(),  # the run's seed (seed_everything)
            seeded_items=isinstance(dataset, Transformed),
            repeats=repeats,
        )
        if train and self._resume_at is not None:
            epoch, batches = self._resume_at
            sampler.resume(epoch, batches * self.batch_size)
            self._resume_at = None
        return DataLoader(
            dataset,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=collate_fn,
            # workers' base seeds from their own generator, not the training process's stream
            generator=torch.Generator().manual_seed(torch.initial_seed()),
            **loader_kwargs(self.batch_size, self.num_workers, self.pin_memory, trainer),
        )

    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return {}
        epoch = trainer.current_epoch
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # saved at the epoch's end: resume at the next
            epoch, done = epoch + 1, 0
        return {"epoch": epoch, "batches": done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "epoch" in state_dict:
            self._resume_at = (state_dict["epoch"], state_dict["batches"])


class PoolLoaders(ResumableLoaders):
    """The loaders of a pretraining module whose `setup` makes `train_set` and `val_set` (None
    without a hold-out): full batches only in training (gathered losses need equal batches on
    every rank). Shared by the tabular and audio modules."""

    train_set: Any = None
    val_set: Any = None

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return self.make_loader(self.train_set, train=True, drop_last=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return self.make_loader(self.val_set, train=False, drop_last=False)


class LabeledLoaders(ResumableLoaders):
    """The loaders of a fine-tuning data module whose `setup` makes `train_set`, `val_set` and
    `test_set` (shared by the image and text modules)."""

    train_set: Any
    val_set: Any
    test_set: Any
    split_indices: dict[str, np.ndarray]  # which source examples each set holds
    min_steps_per_epoch: int = 0

    @property
    def num_labeled(self) -> int:
        """How many labeled examples the classifier trains on."""
        self.setup()
        return len(self.train_set)  # type: ignore[arg-type]

    def probe_sets(self) -> dict[str, tuple[Any, np.ndarray]]:
        """train, val and test as a frozen backbone's features are computed from them (the
        training examples without augmentation), each with the indices it was drawn from."""
        self.setup()
        return {
            "train": (self.train_set, self.split_indices["train"]),
            "val": (self.val_set, self.split_indices["val"]),
            "test": (self.test_set, self.split_indices["test"]),
        }

    def collate_fn(self) -> Callable[[list[Any]], Any] | None:
        """How examples become a batch (None: the default collate)."""
        return None

    def _loader(
        self, dataset: Any, shuffle: bool, collate_fn: Callable[[list[Any]], Any] | None = None
    ) -> DataLoader:
        world = self.trainer.world_size if self.trainer else 1
        repeats = epoch_repeats(len(dataset), self.batch_size, self.min_steps_per_epoch, world)
        repeats = repeats if shuffle else 1
        return self.make_loader(
            dataset,
            train=shuffle,
            # training: only full batches once there are more labels than one batch, so a
            # trailing batch of one never reaches BatchNorm; eval: every example counts
            drop_last=shuffle and len(dataset) * repeats > self.batch_size * world,
            collate_fn=collate_fn or self.collate_fn(),
            repeats=repeats,
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.test_set, shuffle=False)
