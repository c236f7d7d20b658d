"""Augmentation of whole batches on the training device (`data.augment_on=gpu`)."""

from pretrainkit.augment.transforms import (
    BatchViews,
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)

__all__ = [
    "BatchViews",
    "ColorJitter",
    "GaussianBlur",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomSolarize",
]
