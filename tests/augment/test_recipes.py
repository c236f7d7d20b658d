"""Every recipe's batched twin (augment.device_views) makes views like its per-image CPU
pipeline (augment.views): same structure and shapes, same pixel statistics on real images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import make_cfg
from hydra.utils import instantiate
from sklearn.datasets import load_digits, load_sample_images

N = 1024  # fewer leave the statistics' sampling noise near the tolerances below


def digit_images() -> torch.Tensor:
    """scikit-learn's 8x8 digits as uint8 (N, 1, 8, 8)."""
    return torch.from_numpy(load_digits().images[:N] * 255 / 16).round().to(torch.uint8)[:, None]


def photo_patches(size: int = 32) -> torch.Tensor:
    """Random 64 px patches of scikit-learn's two bundled photos, shrunk to `size`: real colour."""
    g = torch.Generator().manual_seed(0)
    patches = []
    for photo in load_sample_images().images:
        t = torch.tensor(photo).permute(2, 0, 1).float()
        for _ in range(N // 2):
            i = int(torch.randint(0, t.shape[1] - 64, (1,), generator=g))
            j = int(torch.randint(0, t.shape[2] - 64, (1,), generator=g))
            patch = F.interpolate(t[None, :, i : i + 64, j : j + 64], size=size, mode="area")
            patches.append(patch[0].round().to(torch.uint8))
    return torch.stack(patches)


def stats(views: torch.Tensor) -> dict[str, float]:
    return {
        "mean": views.mean().item(),
        "std": views.std().item(),
        "image_std": views.std((1, 2, 3)).mean().item(),  # contrast, blur
        "gradient": (views[..., 1:] - views[..., :-1]).abs().mean().item(),  # crop scale, blur
    }


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return photo_patches()


@pytest.mark.parametrize("task", ["simclr", "byol", "mae"])
# colour: slow, torchvision's per-image hue jitter takes ~10 ms an image on the 2-core CPU
@pytest.mark.parametrize("colour", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_device_views_match_the_cpu_recipe(task: str, colour: bool, photos: torch.Tensor):
    rgb = ["dataset=image_folder", "dataset.image_size=32", "dataset.patch_size=4"]
    cfg = make_cfg("pretrain", [f"task={task}", *(rgb if colour else [])])
    images = photos if colour else digit_images()
    cpu = instantiate(cfg.augment.views, _convert_="all")
    device = instantiate(cfg.augment.device_views, _convert_="all")
    torch.manual_seed(0)
    per_image = [cpu(image) for image in images]
    batched = device(images)
    if isinstance(per_image[0], list):
        assert isinstance(batched, list) and len(batched) == len(per_image[0])
        expected = [torch.stack([views[k] for views in per_image]) for k in range(len(batched))]
    else:
        assert isinstance(batched, torch.Tensor)
        expected, batched = [torch.stack(per_image)], [batched]
    for k, (a, b) in enumerate(zip(expected, batched, strict=True)):
        assert a.shape == b.shape and a.dtype == b.dtype, k
        sa, sb = stats(a), stats(b)
        assert abs(sa["mean"] - sb["mean"]) < 0.06, (k, sa, sb)
        for key in ("std", "image_std", "gradient"):
            assert abs(sa[key] - sb[key]) < 0.04 * sa[key], (k, key, sa, sb)
