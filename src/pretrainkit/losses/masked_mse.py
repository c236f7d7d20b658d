"""MAE's reconstruction loss: mean squared error over masked patches, per-patch normalised."""

from __future__ import annotations

import torch


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch (last dim) to zero mean and unit variance: MAE's `norm_pix_loss` targets,
    which make the model predict local contrast rather than absolute intensity."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)  # unbiased, as in the MAE code
    return (patches - mean) / (var + eps).sqrt()


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the patches where `mask` is 1.

    Args:
        pred: predicted patches, (B, N, P).
        target: true patches, (B, N, P).
        mask: 1 at masked patches, 0 at visible ones, (B, N); visible patches do not count,
            since copying what the encoder saw teaches nothing.
    """
    per_patch = (pred - target).pow(2).mean(dim=-1)  # (B, N)
    return (per_patch * mask).sum() / mask.sum()
