"""Per-image transform pieces YAML cannot express directly (a torch dtype is not a config
value): the standardisation that ends every CPU recipe, and the evaluation protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision.transforms import v2


def to_float_normalized(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 image -> float in [0, 1] -> standardised with the dataset's `mean` and `std`."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def keep(x: Any) -> Any:
    """The identity: rows of a table are evaluated as they are encoded."""
    return x


def monitor_transform(
    modality: str,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    clip_seconds: float | None = None,
    rate: int | None = None,
) -> Callable[[Any], Any]:
    """What the representation monitors read an example through: images the evaluation
    protocol (`eval_transform`), table rows as encoded (`keep`), recordings their centre
    `clip_seconds` (the backbone makes the log-mel)."""
    if modality == "tabular":
        return keep
    if modality == "audio":
        from pretrainkit.data.audio.views import Crops

        assert clip_seconds is not None and rate is not None, "an audio dataset"
        return Crops(1, "center").bind(max(1, round(clip_seconds * rate)))
    assert image_size is not None and mean is not None and std is not None, "an image dataset"
    return eval_transform(image_size, mean, std)


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """The fixed evaluation protocol: resize the short side, centre-crop, standardise."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            to_float_normalized(mean, std),
        ]
    )
