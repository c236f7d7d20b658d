"""Augmentation: per-image views made in the loader (`views.MultiView`, `normalize`) and their
batched twins made on the training device (`views.BatchViews` of `transforms`, built on
`functional`; `data.augment_on=gpu`, wired by `on_device`). The batched ones are named here, as
the recipes' `device_*` configs spell them."""

from pretrainkit.augment.transforms import (
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)
from pretrainkit.augment.views import BatchViews

__all__ = [
    "BatchViews",
    "ColorJitter",
    "GaussianBlur",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomSolarize",
]
