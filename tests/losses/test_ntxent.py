"""NT-Xent against a hand-written reference, and its 2-process equivalence with one process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from distributed_helpers import assert_same, ddp_and_single

from pretrainkit.losses.ntxent import NTXentLoss, nt_xent


def reference_ntxent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """The SimCLR paper's loss, written loop by loop."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = torch.stack([z[i] @ z[k] / tau for k in range(2 * n) if k != i])
        pos = z[i] @ z[j] / tau
        total = total - (pos - torch.logsumexp(sims, 0))
    return total / (2 * n)


def test_loss_matches_a_loop_over_anchors():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 5), torch.randn(6, 5)
    assert torch.allclose(nt_xent(z1, z2, 0.3), reference_ntxent(z1, z2, 0.3), atol=1e-5)


def test_perfect_views_give_low_loss_and_chance_views_log_2n_minus_1():
    torch.manual_seed(0)
    z = F.one_hot(torch.arange(8), 16).float()
    assert nt_xent(z, z, 0.05) < 1e-3
    same = torch.ones(8, 4)  # every candidate equally similar: uniform over 2N-1 of them
    assert math.isclose(nt_xent(same, same, 0.5).item(), math.log(15), rel_tol=1e-5)


def test_temperature_of_zero_is_refused():
    with pytest.raises(ValueError, match="temperature=0"):
        NTXentLoss(temperature=0)


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    """2 ranks x batch 4 must give the loss and gradients of 1 process x batch 8."""
    assert_same(*ddp_and_single(NTXentLoss(temperature=0.2), tmp_path))
