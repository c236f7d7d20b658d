"""Barlow Twins against a loop-by-loop reference, and its 2-process equivalence."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from distributed_helpers import assert_same, ddp_and_single

from pretrainkit.losses.barlow import BarlowTwinsLoss


def reference_terms(z1: torch.Tensor, z2: torch.Tensor, eps: float) -> tuple[float, float]:
    """The paper's definitions, one scalar at a time."""
    n, d = z1.shape

    def standardized(z: torch.Tensor, i: int) -> list[float]:
        column = [z[b, i].item() for b in range(n)]
        mean = sum(column) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in column) / n + eps)
        return [(v - mean) / std for v in column]

    a = [standardized(z1, i) for i in range(d)]
    b = [standardized(z2, j) for j in range(d)]
    on = off = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[i][k] * b[j][k] for k in range(n)) / n
            if i == j:
                on += (1 - c_ij) ** 2
            else:
                off += c_ij**2
    return on, off


def test_terms_match_a_scalar_by_scalar_reference():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4) + torch.randn(6, 4).abs()
    loss_fn = BarlowTwinsLoss(off_diag_weight=0.1)
    terms = loss_fn.terms(z1, z2)
    on, off = reference_terms(z1, z2, eps=1e-5)
    assert math.isclose(terms["on_diag"].item(), on, rel_tol=1e-5)
    assert math.isclose(terms["off_diag"].item(), off, rel_tol=1e-5)
    assert math.isclose(loss_fn(z1, z2).item(), on + 0.1 * off, rel_tol=1e-5)


def test_identical_decorrelated_views_give_zero_loss():
    # Zero-mean, unit-variance, orthogonal columns: the cross-correlation is the identity.
    z = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    assert BarlowTwinsLoss(eps=0.0)(z, 3 * z + 2).item() < 1e-10  # invariant to scale and shift


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    """2 ranks x batch 4 must give the loss and gradients of 1 process x batch 8."""
    assert_same(*ddp_and_single(BarlowTwinsLoss(off_diag_weight=0.1), tmp_path))
