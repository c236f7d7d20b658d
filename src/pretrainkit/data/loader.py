"""DataLoaders shared by the data modules: resumable order, workers, pinned memory."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Dataset

from pretrainkit.data.datasets import Transformed
from pretrainkit.data.sampling import EpochSampler


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
