"""Multi-crop views: a few global crops and more, smaller, local crops of each image (Caron et
al., 2020, SwAV, arXiv:2006.09882; used by DINO). `MultiCrop` makes them in the loader,
`BatchMultiCrop` on the training device; both put the global crops first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from torch import nn
from torchvision.transforms import v2

from pretrainkit.augment.transforms import RandomResizedCrop
from pretrainkit.augment.views import BatchViews, MultiView, Transform
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError

Scale = tuple[float, float]


def local_size(size: int, fraction: float, multiple_of: int = 1) -> int:
    """`fraction` of `size`, rounded to a multiple of `multiple_of` and at least one of them:
    a ViT's local crops must hold whole patches (at 224 px, 3/7 gives the paper's 96 px)."""
    return max(multiple_of, round(size * fraction / multiple_of) * multiple_of)


def _per_view(
    global_transform: Transform | Sequence[Transform], n_global: int | None
) -> list[Transform]:
    """One transform per global crop: the list as given, or one transform `n_global` times (2)."""
    if callable(global_transform):
        return [global_transform] * (2 if n_global is None else n_global)
    transforms = list(global_transform)
    if not transforms or n_global not in (None, len(transforms)):
        raise BadValueError(
            f"n_global={n_global} with {len(transforms)} global transforms: give at least one, "
            "and leave n_global out or set it to their number."
        )
    return transforms


class MultiCrop(MultiView):
    """Per image, `n_global` crops at `size` and `n_local` at `local_size(size, local_fraction,
    multiple_of)`, each cropped (`RandomResizedCrop` of an area share in its scale) and then
    passed through its transform; a list of the global crops, then the local ones.

    Args:
        global_transform: what follows a global crop: one for all of them, or one per crop
            (DINO's two global views differ in blur and solarisation).
        local_transform: what follows every local crop.
        size: the global crops' side (the dataset's image size; the paper's 224 px).
        n_local: local crops per image (the paper: 6 or 10; 0 turns multi-crop off).
        global_scale, local_scale: the crops' area shares (the paper: (0.4, 1), (0.05, 0.4)).
        local_fraction: the local side over the global one (the paper's 96/224 = 3/7).
        multiple_of: the local side is a multiple of it (a ViT's patch size).
        n_global: with one `global_transform`, how many global crops (default 2).
    """

    def __init__(
        self,
        global_transform: Transform | Sequence[Transform],
        local_transform: Transform,
        size: Annotated[int, Range(ge=1)],
        n_local: Annotated[int, Range(ge=0)] = 6,
        global_scale: Scale = (0.4, 1.0),
        local_scale: Scale = (0.05, 0.4),
        local_fraction: Annotated[float, Range(gt=0, le=1)] = 3 / 7,
        multiple_of: Annotated[int, Range(ge=1)] = 1,
        n_global: Annotated[int, Range(ge=1)] | None = None,
    ) -> None:
        small = local_size(size, local_fraction, multiple_of)
        globals_ = [
            v2.Compose([v2.RandomResizedCrop(size, global_scale, antialias=True), t])
            for t in _per_view(global_transform, n_global)
        ]
        local = v2.Compose(
            [v2.RandomResizedCrop(small, local_scale, antialias=True), local_transform]
        )
        super().__init__([*globals_, *[local] * n_local])
        self.n_global, self.n_local, self.sizes = len(globals_), n_local, (size, small)


class BatchMultiCrop(BatchViews):
    """`MultiCrop` on uint8 batches (B, C, H, W) on the training device: the same crops and
    arguments, the transforms being batched modules (`pretrainkit.augment`), standardised with
    the dataset's `mean` and `std` at the end. Returns a list of (B, C, side, side) views."""

    def __init__(
        self,
        global_transform: nn.Module | Sequence[nn.Module],
        local_transform: nn.Module,
        size: Annotated[int, Range(ge=1)],
        mean: Sequence[float],
        std: Sequence[float],
        n_local: Annotated[int, Range(ge=0)] = 6,
        global_scale: Scale = (0.4, 1.0),
        local_scale: Scale = (0.05, 0.4),
        local_fraction: Annotated[float, Range(gt=0, le=1)] = 3 / 7,
        multiple_of: Annotated[int, Range(ge=1)] = 1,
        n_global: Annotated[int, Range(ge=1)] | None = None,
    ) -> None:
        small = local_size(size, local_fraction, multiple_of)
        globals_ = [
            nn.Sequential(RandomResizedCrop(size, global_scale), t)
            for t in _per_view(global_transform, n_global)
        ]
        local = nn.Sequential(RandomResizedCrop(small, local_scale), local_transform)
        super().__init__([*globals_, *[local] * n_local], mean, std)
        self.n_global, self.n_local, self.sizes = len(globals_), n_local, (size, small)
