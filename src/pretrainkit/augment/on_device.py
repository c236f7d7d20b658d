"""Augmentation on the training device: the loader only decodes and collates uint8 images (and
the batch's seed); the data module's `on_after_batch_transfer` augments the batch where it
landed, all images at once (`pretrainkit.augment`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import default_collate

from pretrainkit.data.sampling import seeded_call

AugmentOn = Literal["auto", "cpu", "gpu"]
SEED_MASK = 0x7FFF_FFFF_FFFF_FFFF


def augments_on_device(augment_on: str, trainer: Any | None) -> bool:
    """gpu: on the training device (a CPU when training on one); auto: there when it is a GPU."""
    if augment_on == "auto":
        return trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
    return augment_on == "gpu"


def collate_seeded(items: Sequence[tuple[Any, int]]) -> tuple[Any, int]:
    """[(image, item seed)] -> (images, batch seed). The seed stays a Python int, so it is not
    moved to the device and reading it never waits on the GPU."""
    images, seeds = zip(*items, strict=True)
    return default_collate(list(images)), hash(seeds) & SEED_MASK


def augment_batch(transform: Callable[[torch.Tensor], Any], batch: tuple[torch.Tensor, int]) -> Any:
    """The augmented views of a `collate_seeded` batch, drawn from the batch's own seed: the same
    for the same images in any run, worker count or resumed epoch."""
    images, seed = batch
    return seeded_call(transform, images, seed, images.device)
