"""Turning one image into the views a pretext task trains on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

Transform = Callable[[Any], torch.Tensor]


class MultiView:
    """Views of one image, each drawn with fresh random parameters.

    Args:
        transform: one transform applied `n_views` times (symmetric views, as SimCLR), or a
            list of transforms, one per view (asymmetric views, as BYOL).
        n_views: how many views a single transform makes (default 2); with a list it may be
            left out, or must equal the list's length.
    """

    def __init__(
        self, transform: Transform | Sequence[Transform], n_views: int | None = None
    ) -> None:
        if callable(transform):
            n = 2 if n_views is None else n_views
            if n < 1:
                raise ValueError(f"n_views={n_views} must be >= 1.")
            transforms = [transform] * n
        else:  # a list (or Hydra's ListConfig) of transforms is not itself callable
            transforms = list(transform)
            if not transforms or n_views not in (None, len(transforms)):
                raise ValueError(
                    f"n_views={n_views} with {len(transforms)} transforms: give at least one "
                    "transform, and leave n_views out or set it to their number."
                )
        self.transforms = transforms
        self.n_views = len(transforms)

    def __call__(self, image: Any) -> list[torch.Tensor]:
        return [t(image) for t in self.transforms]

    def __repr__(self) -> str:
        if all(t is self.transforms[0] for t in self.transforms):
            return f"MultiView(n_views={self.n_views}, transform={self.transforms[0]!r})"
        return f"MultiView(transforms={self.transforms!r})"
