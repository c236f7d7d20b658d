"""The batched random transforms: per-image parameters and their probabilities."""

from __future__ import annotations

import pytest
import torch

from pretrainkit.augment import (
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)


def batch(n: int = 2000, channels: int = 3, size: int = 12) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, channels, size, size)


def changed(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (out - x).abs().amax((1, 2, 3)) > 1e-6


@pytest.mark.parametrize(
    "transform",
    [
        RandomHorizontalFlip(0.3),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.3),
        RandomGrayscale(0.3),
        GaussianBlur(3, p=0.3),
        RandomSolarize(128, p=0.3),
    ],
    ids=type,
)
def test_each_image_is_transformed_with_probability_p(transform: torch.nn.Module):
    x = batch()
    share = changed(transform(x), x).float().mean().item()
    assert 0.26 < share < 0.34  # 2,000 draws of p = 0.3: 4 standard deviations


def test_flip_mirrors_exactly_the_images_it_flips():
    x = batch(64)
    out = RandomHorizontalFlip(0.5)(x)
    flipped = changed(out, x)
    assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(
        out[~flipped], x[~flipped]
    )
    assert 0 < flipped.sum() < 64


def test_parameters_differ_between_images_of_one_batch():
    x = batch(1, size=16).expand(64, -1, -1, -1)  # one image, 64 times
    crops = RandomResizedCrop(16, scale=(0.2, 1.0))(x)
    jittered = ColorJitter(0.4, 0.4, 0.4, 0.1)(x)
    for out in (crops, jittered):  # nearly all 64 differ
        distinct = {tuple(o.flatten()[:32].tolist()) for o in out}
        assert len(distinct) > 56  # whole-image crops can coincide


def test_jitter_with_only_brightness_scales_each_image_by_its_factor():
    x = batch(256) * 0.5  # nothing clips at up to 1.4x
    out = ColorJitter(brightness=0.4)(x)
    factor = (out / x).flatten(1)
    assert torch.allclose(factor.amin(1), factor.amax(1), atol=1e-5)  # one factor an image
    assert factor.min() >= 0.6 and factor.max() <= 1.4 and factor.std() > 0.15


def test_grayscale_leaves_one_channel_images_alone_and_blur_refuses_big_kernels():
    x = batch(8, channels=1)
    assert torch.equal(RandomGrayscale(1.0)(x), x)
    assert torch.equal(ColorJitter(saturation=0.5, hue=0.2)(x), x)  # as torchvision: no-ops on gray
    with pytest.raises(ValueError, match="kernel_size=9 is too large for"):
        GaussianBlur(9)(batch(2, size=4))
