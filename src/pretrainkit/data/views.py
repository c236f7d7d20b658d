"""Turning one image into the views a pretext task trains on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class MultiView:
    """Apply `transform` `n_views` times, each with fresh random parameters."""

    def __init__(self, transform: Callable[[Any], torch.Tensor], n_views: int = 2) -> None:
        if n_views < 1:
            raise ValueError(f"n_views={n_views} must be >= 1.")
        self.transform = transform
        self.n_views = n_views

    def __call__(self, image: Any) -> list[torch.Tensor]:
        return [self.transform(image) for _ in range(self.n_views)]

    def __repr__(self) -> str:
        return f"MultiView(n_views={self.n_views}, transform={self.transform!r})"
