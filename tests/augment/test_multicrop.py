"""Multi-crop (augment=dino): 2 global + n_local local crops at sizes scaled to the dataset, the
global crops first, the same in the loader (MultiCrop) and on the device (BatchMultiCrop)."""

from __future__ import annotations

import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate
from sklearn.datasets import load_digits
from torch import nn

from pretrainkit.augment.multicrop import BatchMultiCrop, MultiCrop, local_size
from pretrainkit.errors import BadValueError

# dataset -> (image side, local side): 3/7 of the side, a multiple of the dataset's patch size
SIDES = {
    "digits": (8, 4),
    "fashion_mnist": (28, 12),
    "cifar10": (32, 12),
    "stl10": (96, 40),
    "image_folder": (64, 24),
}


def test_local_size_is_the_papers_at_224_and_holds_whole_patches():
    assert local_size(224, 3 / 7, 16) == 96  # the paper's 96 px local crops of 224 px images
    assert local_size(8, 3 / 7, 2) == 4  # 3.4 px rounds to 2 patches of 2 px
    assert local_size(16, 3 / 7, 8) == 8  # never below one patch
    assert local_size(28, 0.5) == 14


@pytest.mark.parametrize("dataset", SIDES)
def test_shapes_and_counts_in_the_loader_and_on_the_device(dataset: str):
    side, small = SIDES[dataset]
    cfg = make_cfg("pretrain", ["task=dino", f"dataset={dataset}"])
    channels = cfg.dataset.in_chans
    images = torch.randint(0, 256, (3, channels, side, side), dtype=torch.uint8)
    loader = instantiate(cfg.augment.views, _convert_="all")
    views = loader(images[0])
    assert isinstance(loader, MultiCrop) and len(views) == 2 + 6 == loader.n_views
    assert [tuple(v.shape) for v in views] == [(channels, side, side)] * 2 + [
        (channels, small, small)
    ] * 6
    assert all(v.dtype == torch.float32 for v in views)
    device = instantiate(cfg.augment.device_views, _convert_="all")
    batched = device(images)
    assert isinstance(device, BatchMultiCrop) and (device.n_global, device.n_local) == (2, 6)
    assert [tuple(v.shape) for v in batched] == [(3, channels, side, side)] * 2 + [
        (3, channels, small, small)
    ] * 6


@pytest.mark.parametrize("n_local", [0, 10])
def test_the_number_of_local_crops_is_an_override(n_local: int):
    cfg = make_cfg("pretrain", ["task=dino", f"augment.n_local={n_local}"])
    image = torch.randint(0, 256, (1, 8, 8), dtype=torch.uint8)
    assert len(instantiate(cfg.augment.views, _convert_="all")(image)) == 2 + n_local
    batched = instantiate(cfg.augment.device_views, _convert_="all")(image[None])
    assert len(batched) == 2 + n_local


def test_one_global_transform_makes_n_global_crops_and_a_mismatch_is_refused():
    views = MultiCrop(lambda x: x, lambda x: x, size=8, n_local=1, n_global=3)
    assert views.n_global == 3 and len(views(torch.zeros(1, 8, 8))) == 4
    with pytest.raises(BadValueError, match="n_global=3 with 2 global transforms"):
        MultiCrop([nn.Identity(), nn.Identity()], nn.Identity(), size=8, n_global=3)


def test_crops_keep_their_share_of_a_real_digit_on_both_paths():
    """The local crops are zoomed in (scale 0.05-0.4 of the area): their pixels vary less
    within a crop than a global crop's; the device path matches the loader's statistics."""
    cfg = make_cfg("pretrain", ["task=dino", "augment.jitter_p=0", "augment.grayscale_p=0"])
    images = torch.from_numpy(load_digits().images[:512] * 255 / 16).round().to(torch.uint8)
    images = images[:, None]  # (N, 1, 8, 8)
    loader = instantiate(cfg.augment.views, _convert_="all")
    device = instantiate(cfg.augment.device_views, _convert_="all")
    torch.manual_seed(0)
    per_image = [loader(image) for image in images]
    on_cpu = [torch.stack([views[k] for views in per_image]) for k in (0, 2)]
    on_device = [device(images)[k] for k in (0, 2)]
    for a, b in zip(on_cpu, on_device, strict=True):
        assert abs(a.mean() - b.mean()) < 0.1 and abs(a.std() - b.std()) < 0.1 * a.std()
    spread = [v.std((1, 2, 3)).mean() for v in on_cpu]  # within-image contrast: global, local
    assert spread[1] < spread[0]
