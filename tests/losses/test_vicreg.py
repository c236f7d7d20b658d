"""VICReg's terms on a hand-worked example, and its 2-process equivalence with one process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from distributed_helpers import assert_same, ddp_and_single, inputs

from pretrainkit.losses.vicreg import VICRegLoss


def test_terms_match_a_hand_worked_example():
    # Three samples, two dimensions; both branches have zero mean per dimension.
    z1 = torch.tensor([[0.5, 0.0], [0.0, 0.5], [-0.5, -0.5]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    terms = VICRegLoss().terms(z1, z2)
    # Invariance: z1 - z2 = [[-.5, 0], [0, -.5], [.5, .5]]: four squares of 0.25 over 6 entries.
    assert math.isclose(terms["invariance"].item(), 4 * 0.25 / 6, rel_tol=1e-6)
    # Variance: unbiased variances are (0.25 + 0 + 0.25) / 2 = 0.25 for z1 and 1 for z2 in
    # both dimensions; only z1 is under γ = 1: hinge 1 - sqrt(0.25 + 1e-4), halved by the
    # average over the two branches.
    assert math.isclose(terms["variance"].item(), (1 - math.sqrt(0.2501)) / 2, rel_tol=1e-5)
    # Covariance: cov_01 = (0 + 0 + 0.25) / 2 = 0.125 for z1 and (0 + 0 + 1) / 2 = 0.5 for
    # z2; each matrix has it twice off the diagonal, divided by D = 2.
    assert math.isclose(terms["covariance"].item(), 0.125**2 + 0.5**2, rel_tol=1e-6)
    total = 25 * (1 / 6) + 25 * (1 - math.sqrt(0.2501)) / 2 + 1 * (0.125**2 + 0.5**2)
    assert math.isclose(VICRegLoss()(z1, z2).item(), total, rel_tol=1e-5)


def test_weights_scale_their_terms():
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    terms = VICRegLoss().terms(z1, z2)
    loss = VICRegLoss(invariance_weight=2.0, variance_weight=0.0, covariance_weight=3.0)(z1, z2)
    assert torch.allclose(loss, 2 * terms["invariance"] + 3 * terms["covariance"])


def test_collapsed_embeddings_pay_the_whole_variance_hinge():
    z = torch.ones(4, 3)
    terms = VICRegLoss().terms(z, z)
    assert terms["invariance"] == 0 and terms["covariance"] == 0
    assert math.isclose(terms["variance"].item(), 1 - math.sqrt(1e-4), rel_tol=1e-6)


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    """2 ranks x batch 4 must give the loss and gradients of 1 process x batch 8."""
    layer, x1, x2 = inputs()
    terms = VICRegLoss().terms(layer(x1), layer(x2))
    assert all(v > 0.01 for v in terms.values())  # every term, the hinge included, is active
    assert_same(*ddp_and_single(VICRegLoss(), tmp_path))


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_gamma_is_the_target_standard_deviation(gamma: float):
    z = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]]) * math.sqrt(3) / 2  # unbiased std 1
    hinge = VICRegLoss(gamma=gamma, eps=0.0).terms(z, z)["variance"].item()
    assert math.isclose(hinge, max(0.0, gamma - 1), abs_tol=1e-6)
