"""MultiView: one transform repeated, or one transform per view."""

from __future__ import annotations

import itertools

import pytest
import torch

from pretrainkit.data.views import MultiView


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
