"""A small labeled set for watching representation quality while pretraining."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pretrainkit.data.datasets import TensorImages, Transformed
from pretrainkit.data.sources import ImageSource
from pretrainkit.data.splits import labeled_subset, stratified_split


class MonitorSet:
    """A k-NN bank and held-out queries, both drawn (stratified, seeded) from the source's
    labeled *train* split, so monitoring never looks at test images.

    Args:
        source: a source with labels (`labeled("train")`).
        transform: the deterministic evaluation transform.
        max_images: at most this many labeled images in all (bank + queries).
        query_fraction: share of them used as queries.
    """

    def __init__(
        self,
        source: ImageSource,
        transform: Callable[[Any], Any],
        max_images: int = 5000,
        query_fraction: float = 0.2,
        seed: int = 0,
        batch_size: int = 512,
    ) -> None:
        if not 0 < query_fraction < 1:
            raise ValueError(f"monitor query_fraction={query_fraction} must be in (0, 1).")
        self.source, self.transform = source, transform
        self.max_images, self.query_fraction = max_images, query_fraction
        self.seed, self.batch_size = seed, batch_size
        self.bank: Transformed | None = None
        self.queries: Transformed | None = None

    def setup(self) -> None:
        if self.bank is not None:
            return
        train = self.source.labeled("train")
        fraction = min(1.0, self.max_images / len(train))
        chosen = labeled_subset(train.targets, self.seed, fraction=fraction)
        bank, queries = stratified_split(train.targets[chosen], self.query_fraction, self.seed)
        cache = isinstance(train, TensorImages)  # evaluated once, reused every epoch
        self.bank = Transformed(train, self.transform, chosen[bank], cache=cache)
        self.queries = Transformed(train, self.transform, chosen[queries], cache=cache)

    def targets(self, part: Transformed) -> np.ndarray:
        return part.dataset.targets[part.indices]  # type: ignore[attr-defined]

    def loader(self, part: Transformed) -> DataLoader:
        # Its own generator: starting a DataLoader draws a seed, which must not come from the
        # global RNG, or turning a monitor on would change the training run it watches.
        return DataLoader(
            part, batch_size=self.batch_size, shuffle=False, generator=torch.Generator()
        )
