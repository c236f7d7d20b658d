"""Where text comes from. A source streams an unlabeled corpus for pretraining and returns
labeled train/test splits for fine-tuning, so one source serves both (as the image sources do).
The sources: `fortunes.Fortunes`, `files.TextFiles`, `hf_disk.HFDiskDataset`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pretrainkit.data.splits import stratified_split
from pretrainkit.errors import BadValueError


@dataclass
class LabeledTexts:
    """One labeled split: texts and their class indices."""

    texts: list[str]
    targets: np.ndarray  # (N,) int64

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        if len(self.texts) != len(self.targets):
            raise ValueError(f"{len(self.texts)} texts but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int]) -> LabeledTexts:
        indices = np.asarray(list(indices), dtype=np.int64)
        return LabeledTexts([self.texts[i] for i in indices], self.targets[indices])


class TextSource(ABC):
    """A corpus of text: `documents()` for pretraining, `labeled(split)` for fine-tuning."""

    classes: list[str]

    @abstractmethod
    def documents(self) -> Iterator[str]:
        """The unlabeled corpus, one document at a time (never all in memory)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A short hex digest that changes when the corpus or the options shaping it change."""

    @abstractmethod
    def labeled(self, split: str) -> LabeledTexts:
        """The labeled "train" or "test" split."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def held_out(
    targets: np.ndarray, classes: list[str], fraction: float, seed: int, where: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices with `fraction` of every class held out; each class needs two."""
    counts = np.bincount(targets, minlength=len(classes))
    if len(counts) and counts.min() < 2:
        name = classes[int(counts.argmin())]
        raise BadValueError(
            f"class {name!r} has {counts.min()} example(s) in {where}; holding out "
            f"dataset.source.test_fraction={fraction} for testing needs at least 2 per class: "
            "add examples, drop the class, or set dataset.source.test_root."
        )
    return stratified_split(targets, fraction, seed)
