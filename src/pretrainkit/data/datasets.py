"""Map-style datasets the sources return: images in memory, or image files on disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) held in memory, with integer targets (-1 when unlabeled)."""

    def __init__(self, images: torch.Tensor, targets: np.ndarray | None = None) -> None:
        if images.ndim != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images = images
        self.targets = np.full(len(images), -1) if targets is None else np.asarray(targets)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.targets[i])


class ImageFiles(Dataset):
    """Image files decoded on access with PIL and converted to `mode` ("L" or "RGB")."""

    def __init__(
        self, paths: Sequence[Path], targets: np.ndarray | None = None, mode: str = "RGB"
    ) -> None:
        self.paths = list(paths)
        self.targets = np.full(len(self.paths), -1) if targets is None else np.asarray(targets)
        self.mode = mode

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        with Image.open(self.paths[i]) as img:
            return img.convert(self.mode), int(self.targets[i])


class Transformed(Dataset):
    """A view of `dataset` through `transform`, optionally restricted to `indices`."""

    def __init__(
        self,
        dataset: Dataset,
        transform: Callable[[Any], Any],
        indices: np.ndarray | None = None,
        with_target: bool = True,
        cache: bool = False,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)  # type: ignore[arg-type]
        self.with_target = with_target
        # For deterministic transforms: each item is computed once, then served from memory.
        self.cache: dict[int, Any] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        image, target = self.dataset[int(self.indices[i])]
        out = self.transform(image)
        item = (out, target) if self.with_target else out
        if self.cache is not None:
            self.cache[i] = item
        return item
