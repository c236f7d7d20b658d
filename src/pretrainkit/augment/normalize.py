"""Transform pieces YAML cannot express directly (a torch dtype is not a config value)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def to_float_normalized(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 image -> float in [0, 1] -> standardised with the dataset's `mean` and `std`."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """The fixed evaluation protocol: resize the short side, centre-crop, standardise."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            to_float_normalized(mean, std),
        ]
    )


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
