"""Under bf16 autocast (the GPU default) every SSL loss still computes in float32."""

from __future__ import annotations

import pytest
import torch

from pretrainkit.losses import BarlowTwinsLoss, BYOLLoss, NTXentLoss, VICRegLoss

LOSSES = {
    "barlow": (BarlowTwinsLoss(gather_distributed=False), 2),
    "vicreg": (VICRegLoss(gather_distributed=False), 2),
    "ntxent": (NTXentLoss(gather_distributed=False), 2),
    "byol": (BYOLLoss(), 4),
}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_is_float32_under_bf16_autocast(name: str) -> None:
    loss_fn, n_inputs = LOSSES[name]
    torch.manual_seed(0)
    # bf16 embeddings, as a bf16-autocast projector hands them over
    inputs = [torch.randn(64, 128).bfloat16().requires_grad_() for _ in range(n_inputs)]
    reference = loss_fn(*(x.detach().float() for x in inputs))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(*inputs)
    assert loss.dtype == torch.float32
    # same value as the float32 loss of the same (bf16-rounded) embeddings: nothing inside
    # was recast to bf16 by autocast
    torch.testing.assert_close(loss, reference, rtol=1e-6, atol=1e-6)
    loss.backward()
    assert inputs[0].grad is not None and inputs[0].grad.dtype == torch.bfloat16


def test_bf16_inside_the_loss_would_have_moved_it() -> None:
    """The check above can fail: Barlow's cross-correlation computed in bf16 differs."""
    torch.manual_seed(0)
    z1, z2 = torch.randn(64, 128), torch.randn(64, 128)
    loss_fn = BarlowTwinsLoss(gather_distributed=False)
    fp32 = loss_fn.terms(z1, z2)["off_diag"]
    bf16 = BarlowTwinsLoss.terms.__wrapped__(loss_fn, z1.bfloat16(), z2.bfloat16())["off_diag"]
    assert not torch.allclose(fp32, bf16.float(), rtol=1e-3)
