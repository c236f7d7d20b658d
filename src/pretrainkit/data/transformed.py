"""Stored examples seen through a transform as they are read, each example's random draws from
its own seed (see `EpochSampler`), so augmentation does not depend on workers or resumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from pretrainkit.data.sampling import seeded_call


class Transformed(Dataset):
    """A view of `dataset` through `transform`, optionally restricted to `indices`; with
    `with_seed`, each item comes with the seed its `(index, seed)` key carried."""

    def __init__(
        self,
        dataset: Dataset,
        transform: Callable[[Any], Any],
        indices: np.ndarray | None = None,
        with_target: bool = True,
        cache: bool = False,
        with_seed: bool = False,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)  # type: ignore[arg-type]
        self.with_target = with_target
        self.with_seed = with_seed  # (item, seed): the seed of augmentations done later, batched
        # For deterministic transforms: each item is computed once, then served from memory.
        self.cache: dict[int, Any] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        # (index, seed) from an EpochSampler: the item's random transform draws from its own seed
        i, seed = key if isinstance(key, tuple) else (key, None)
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        example, target = self.dataset[int(self.indices[i])]
        out = seeded_call(self.transform, example, seed)
        item = (out, target) if self.with_target else out
        if self.with_seed:
            item = (item, seed)
        if self.cache is not None:
            self.cache[i] = item
        return item
