"""BYOL's regression loss: 2 - 2·cos between a prediction and a target projection."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.losses.precision import in_float32


def normalized_mse(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||p/|p| - z/|z|||² = 2 - 2·cos(p, z); `z` gets no gradient.

    Args:
        p: the online network's predictions, (B, D).
        z: the target network's projections of the other view, (B, D).
    """
    cos = F.cosine_similarity(p, z.detach(), dim=1)  # (B,)
    return (2 - 2 * cos).mean()


class BYOLLoss(nn.Module):
    """BYOL's symmetrised loss (Grill et al., 2020, "Bootstrap Your Own Latent", arXiv:2006.07733):
    each view's prediction regresses the target projection of the other view, and the two
    terms are summed (the paper's L + L̃).

    The loss is a mean of per-sample terms with no cross-sample statistic, so it needs no
    gather: DDP's gradient averaging over equal local batches already gives the gradient of the
    mean over the global batch.
    """

    @in_float32
    def forward(
        self, p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor
    ) -> torch.Tensor:
        """Predictions `p1`, `p2` of views 1 and 2; target projections `z1`, `z2` of them."""
        return normalized_mse(p1, z2) + normalized_mse(p2, z1)
