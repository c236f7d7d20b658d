"""Each batched operation equals torchvision's, applied image by image with the same parameter."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from pretrainkit.augment import functional as AF

CPU = torch.device("cpu")


def images(channels: int, n: int = 16, h: int = 20, w: int = 24) -> torch.Tensor:
    return torch.rand(n, channels, h, w, generator=torch.Generator().manual_seed(channels))


def one_by_one(fn, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    return torch.stack([fn(x[i], float(params[i])) for i in range(len(x))])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    "name, low, high",
    [
        ("adjust_brightness", 0.0, 2.0),
        ("adjust_contrast", 0.0, 2.0),
        ("adjust_saturation", 0.0, 2.0),
        ("adjust_hue", -0.5, 0.5),
    ],
)
def test_colour_operations_match_torchvision(channels: int, name: str, low: float, high: float):
    x = images(channels)
    factors = torch.linspace(low, high, len(x))
    ours = getattr(AF, name)(x, factors)
    torch.testing.assert_close(ours, one_by_one(getattr(TF, name), x, factors), atol=2e-6, rtol=0)


def test_grayscale_and_solarize_match_torchvision():
    x = images(3)
    torch.testing.assert_close(AF.grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(AF.solarize(x, 0.5), TF.solarize(x, 0.5))


def test_blur_matches_torchvision_with_each_images_sigma():
    x = images(3)
    sigma = torch.linspace(0.1, 2.0, len(x))
    ours = AF.gaussian_blur(x, 9, sigma)
    ref = torch.stack([TF.gaussian_blur(x[i], [9, 9], [float(s)] * 2) for i, s in enumerate(sigma)])
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)


@pytest.mark.parametrize("size, antialias", [((16, 16), False), ((32, 32), True), ((20, 24), True)])
def test_resized_crop_matches_torchvision(size: tuple[int, int], antialias: bool):
    # antialias only acts when a box is shrunk: compare with it where nothing is
    x = images(3, n=64)
    torch.manual_seed(0)
    boxes = AF.crop_boxes(64, 20, 24, (0.08, 1.0), (3 / 4, 4 / 3), CPU)
    ours = AF.resized_crop(x, boxes, size)
    ref = torch.stack(
        [
            TF.resized_crop(x[i], *[int(v) for v in box], size=list(size), antialias=antialias)
            for i, box in enumerate(boxes)
        ]
    )
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_crop_boxes_are_drawn_as_torchvision_draws_them():
    n, h, w, scale, ratio = 4000, 20, 24, (0.08, 1.0), (3 / 4, 4 / 3)
    torch.manual_seed(0)
    ours = AF.crop_boxes(n, h, w, scale, ratio, CPU)
    top, left, bh, bw = ours.unbind(1)
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + bh <= h).all() and (left + bw <= w).all()
    )
    assert torch.equal(ours, ours.round())  # whole pixels, as torchvision's
    crop = v2.RandomResizedCrop(8, scale=scale, ratio=ratio)
    ref = torch.tensor(
        [
            [p["top"], p["left"], p["height"], p["width"]]
            for p in (crop.make_params([torch.zeros(1, h, w)]) for _ in range(n))
        ],
        dtype=torch.float32,
    )
    for column in range(4):  # same distribution: means and spreads within sampling error
        a, b = ours[:, column], ref[:, column]
        assert abs(a.mean() - b.mean()) < 4 * b.std() / math.sqrt(n) * math.sqrt(2), column
        assert abs(a.std() - b.std()) < 0.05 * b.std() + 0.05, column


def test_crop_boxes_fall_back_to_torchvisions_centre_crop():
    # no box of aspect in [2, 3] covering >= 90% fits a square: every try fails
    boxes = AF.crop_boxes(5, 30, 30, (0.9, 1.0), (2.0, 3.0), CPU)
    assert boxes.tolist() == [[7.0, 0.0, 15.0, 30.0]] * 5  # 30 wide, 30 / 2 high, centred
    assert AF.centre_box(30, 30, (2.0, 3.0)) == [7.0, 0.0, 15.0, 30.0]
