"""Data: sources of images, and the unlabeled/labeled data modules built on them."""

from pretrainkit.data.labeled import LabeledDataModule
from pretrainkit.data.unlabeled import UnlabeledDataModule

__all__ = ["LabeledDataModule", "UnlabeledDataModule"]
