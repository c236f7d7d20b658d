"""MoCo v3's loss against hand-computed values and a loop, keys without gradient, float32 under
bf16, and 2 processes equal to one process with the whole batch."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from distributed_helpers import assert_same, ddp_and_single
from torch import nn

from pretrainkit.losses.mocov3 import MoCoV3Loss, moco_contrastive


def reference_ctr(q: torch.Tensor, k: torch.Tensor, tau: float) -> torch.Tensor:
    """The paper's ctr(q, k) (Algorithm 1), query by query: -log softmax of the positive key."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    terms = [-(q[i] @ k[i] / tau - torch.logsumexp(k @ q[i] / tau, 0)) for i in range(len(q))]
    return torch.stack(terms).mean() * 2 * tau


def test_two_orthogonal_pairs_by_hand():
    """q = k = the 2-D basis, τ = 1: each query's logits are (1, 0), so each term is
    -log(e / (e + 1)) = log(1 + 1/e), scaled by 2τ = 2; the symmetric loss has two such ctr."""
    eye = torch.eye(2)
    ctr = moco_contrastive(eye, eye, 1.0).item()
    assert math.isclose(ctr, 2 * math.log(1 + 1 / math.e), rel_tol=1e-6)
    loss = MoCoV3Loss(temperature=1.0)(eye, 3 * eye, eye, eye)  # norms do not matter
    assert math.isclose(loss.item(), 4 * math.log(1 + 1 / math.e), rel_tol=1e-6)


def test_loss_matches_a_loop_over_queries_both_ways():
    torch.manual_seed(0)
    q1, q2, k1, k2 = torch.randn(4, 6, 5).unbind()
    expected = reference_ctr(q1, k2, 0.3) + reference_ctr(q2, k1, 0.3)
    assert torch.allclose(MoCoV3Loss(temperature=0.3)(q1, q2, k1, k2), expected, atol=1e-6)


def test_keys_get_no_gradient():
    torch.manual_seed(0)
    q1, q2, k1, k2 = (torch.randn(6, 5, requires_grad=True) for _ in range(4))
    MoCoV3Loss()(q1, q2, k1, k2).backward()
    assert q1.grad is not None and q2.grad is not None
    assert k1.grad is None and k2.grad is None


def test_temperature_of_zero_is_refused():
    with pytest.raises(ValueError, match="temperature=0"):
        MoCoV3Loss(temperature=0)


def test_loss_is_float32_under_bf16_autocast():
    torch.manual_seed(0)
    inputs = [torch.randn(64, 128).bfloat16() for _ in range(4)]
    reference = MoCoV3Loss()(*(x.float() for x in inputs))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = MoCoV3Loss()(*inputs)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, reference, rtol=1e-6, atol=1e-6)


class QueriesAndKeys(nn.Module):
    """MoCoV3Loss on embeddings z1, z2 as queries, with keys from a fixed per-sample map of
    them, without gradient (as a momentum encoder's)."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = MoCoV3Loss(temperature=0.2)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            k1, k2 = torch.tanh(z1.roll(1, dims=1)), torch.tanh(z2.roll(1, dims=1))  # (B, D)
        return self.loss(z1, z2, k1, k2)


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    """2 ranks x batch 4, keys gathered and labels offset by rank, must give the loss and
    gradients of 1 process x batch 8."""
    assert_same(*ddp_and_single(QueriesAndKeys(), tmp_path))
