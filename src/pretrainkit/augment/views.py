"""The views a pretext task trains on: `MultiView` makes them of one image in the loader (per-image
recipes, `augment.views`); `BatchViews`, its batched twin, of a whole uint8 batch on the training
device (`augment.device_views`, built of `transforms`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from pretrainkit.errors import BadValueError

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
                raise BadValueError(f"n_views={n_views} must be >= 1.")
            transforms = [transform] * n
        else:  # a list (or Hydra's ListConfig) of transforms is not itself callable
            transforms = list(transform)
            if not transforms or n_views not in (None, len(transforms)):
                raise BadValueError(
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


class BatchViews(nn.Module):
    """uint8 images (B, C, H, W) -> the views a task trains on, standardised.

    Args:
        transform: one augmentation (a module over float batches), or a list, one per view.
        n_views: with one transform, how many views it makes (a list of tensors); None makes
            one view, returned as a tensor (what single-view tasks take). Left out with a list.
        mean, std: the dataset's per-channel statistics, applied after augmenting.
    """

    def __init__(
        self,
        transform: nn.Module | Sequence[nn.Module],
        mean: Sequence[float],
        std: Sequence[float],
        n_views: int | None = None,
    ) -> None:
        super().__init__()
        listed = not isinstance(transform, nn.Module)
        transforms = list(transform) if listed else [transform] * (n_views or 1)  # type: ignore[arg-type]
        if not transforms or (listed and n_views not in (None, len(transforms))):
            raise BadValueError(
                f"n_views={n_views} with {len(transforms)} transforms: give at least one "
                "transform, and leave n_views out or set it to their number."
            )
        self.transforms = nn.ModuleList(transforms)
        self.single = not listed and n_views is None
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"BatchViews takes uint8 images, got {images.dtype}.")
        if self.mean.device != images.device:  # once: a copy per batch would wait on the GPU
            self.to(images.device)
        x = images.float().div_(255)
        views = [(t(x) - self.mean) / self.std for t in self.transforms]
        return views[0] if self.single else views
