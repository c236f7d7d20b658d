"""Augmentation on the training device: the loader only decodes (`Decode`) and collates uint8
images and the batch's seed (`collate_seeded`); the data module's `on_after_batch_transfer`
augments the batch where it landed, all images at once (`augment_batch`, with a recipe's
`BatchViews`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import default_collate
from torchvision.transforms.v2 import functional as F

from pretrainkit.data.sampling import seeded_call

AugmentOn = Literal["auto", "cpu", "gpu"]
SEED_MASK = 0x7FFF_FFFF_FFFF_FFFF


def augments_on_device(augment_on: str, trainer: Any | None) -> bool:
    """gpu: on the training device (a CPU when training on one); auto: there when it is a GPU."""
    if augment_on == "auto":
        return trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
    return augment_on == "gpu"


class Decode:
    """An image (PIL or tensor) -> a uint8 (C, size, size) tensor, resized (short side) and
    centre-cropped only if it is not that size already: all the loader does when augmentation
    runs on the training device (`data.augment_on=gpu`)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Any) -> torch.Tensor:
        x = F.to_image(image)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.center_crop(F.resize(x, [self.size], antialias=True), [self.size])
        return F.to_dtype(x, torch.uint8, scale=True)

    def __repr__(self) -> str:
        return f"Decode(size={self.size})"


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
