"""BYOL's loss: 2 - 2·cos per sample, symmetrised, with no gradient into the targets."""

from __future__ import annotations

import math

import torch

from pretrainkit.losses.byol import BYOLLoss, normalized_mse


def test_normalized_mse_is_two_minus_two_cosine():
    p = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    z = torch.tensor([[5.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    expected = (0.0 + 4.0 + 2.0) / 3  # cos = 1, -1, 0; scale does not matter
    assert math.isclose(normalized_mse(p, z).item(), expected, rel_tol=1e-6)


def test_symmetrised_loss_sums_both_directions_and_leaves_targets_alone():
    torch.manual_seed(0)
    p1, p2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    z1, z2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    loss = BYOLLoss()(p1, p2, z1, z2)
    assert torch.allclose(loss, normalized_mse(p1, z2) + normalized_mse(p2, z1))
    loss.backward()
    assert z1.grad is None and z2.grad is None and p1.grad is not None
