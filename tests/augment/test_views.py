"""The views a task trains on: MultiView (one image, in the loader) and its batched twin
BatchViews (a uint8 batch, on the device): one transform repeated, or one per view."""

from __future__ import annotations

import itertools

import pytest
import torch

from pretrainkit.augment import RandomResizedCrop, RandomSolarize
from pretrainkit.augment import functional as AF
from pretrainkit.augment.views import BatchViews, MultiView


def test_one_transform_makes_n_views():
    counter = itertools.count(1)
    views = MultiView(lambda x: x + next(counter), n_views=3)(torch.zeros(1))
    assert [v.item() for v in views] == [1.0, 2.0, 3.0]  # applied afresh for every view
    assert MultiView(torch.neg).n_views == 2


def test_a_list_gives_one_transform_per_view():
    views = MultiView([torch.neg, torch.exp])(torch.zeros(1))
    assert [v.item() for v in views] == [0.0, 1.0]
    assert MultiView([torch.neg, torch.exp], n_views=2).n_views == 2


@pytest.mark.parametrize(
    ("transform", "n_views"), [(torch.neg, 0), ([torch.neg, torch.exp], 3), ([], None)]
)
def test_inconsistent_view_counts_are_refused(transform, n_views):
    with pytest.raises(ValueError, match="n_views"):
        MultiView(transform, n_views=n_views)


def test_batch_views_shapes_and_standardisation():
    torch.manual_seed(0)
    images = (torch.rand(8, 3, 12, 12) * 255).to(torch.uint8)
    one = BatchViews(torch.nn.Identity(), mean=[0.5] * 3, std=[0.25] * 3)
    out = one(images)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, (images.float() / 255 - 0.5) / 0.25)
    two = BatchViews(RandomResizedCrop(6), n_views=2, mean=[0.5] * 3, std=[0.25] * 3)
    views = two(images)
    assert [v.shape for v in views] == [torch.Size([8, 3, 6, 6])] * 2
    assert not torch.equal(views[0], views[1])
    listed = BatchViews([torch.nn.Identity(), RandomSolarize(p=1.0)], mean=[0.0] * 3, std=[1.0] * 3)
    first, second = listed(images)
    torch.testing.assert_close(second, AF.solarize(first, 128 / 255))
    with pytest.raises(TypeError, match="uint8"):
        one(images.float())
    with pytest.raises(ValueError, match="n_views=3 with 2 transforms"):
        BatchViews([torch.nn.Identity()] * 2, mean=[0.0], std=[1.0], n_views=3)
