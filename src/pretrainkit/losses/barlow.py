"""Barlow Twins: drive the two views' cross-correlation matrix to the identity."""

from __future__ import annotations

import torch
from torch import nn

from pretrainkit.losses.distributed import gather_with_grad
from pretrainkit.losses.precision import in_float32


def standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean and unit (biased) variance per dimension over the batch, as a BatchNorm
    without affine parameters; z is (N, D)."""
    return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """C_ij = mean over the batch of the standardised z1[:, i] · z2[:, j]; (D, D), in [-1, 1]."""
    return standardize(z1, eps).T @ standardize(z2, eps) / z1.shape[0]


def on_off_diagonal(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The invariance term Σ_i (1 - C_ii)² and the redundancy-reduction term Σ_{i≠j} C_ij²."""
    diagonal = torch.diagonal(c)
    off_diagonal = c - torch.diag(diagonal)  # exact zeros on the diagonal
    return (1 - diagonal).pow(2).sum(), off_diagonal.pow(2).sum()


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins loss (Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning via
    Redundancy Reduction", arXiv:2103.03230): Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij², with C the
    cross-correlation of the two views' batch-standardised embeddings.

    C is a statistic of the whole batch: with `gather_distributed` it is computed on embeddings
    gathered from every DDP rank with gradients, so every rank holds the global loss, and W
    processes with batch B get exactly the loss and gradients of one process with batch W·B
    (the gather's backward sums every rank's gradient, DDP divides by W; see
    `pretrainkit.losses.distributed`).

    Args:
        off_diag_weight: λ (paper: 5e-3, for its 8192-d projector).
        eps: added to the variance when standardising.
        gather_distributed: take C over all DDP ranks.
    """

    def __init__(
        self, off_diag_weight: float = 5e-3, eps: float = 1e-5, gather_distributed: bool = True
    ) -> None:
        super().__init__()
        self.off_diag_weight, self.eps = off_diag_weight, eps
        self.gather_distributed = gather_distributed

    @in_float32
    def terms(self, z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted on- and off-diagonal sums for embeddings (B, D) of the local batch."""
        if self.gather_distributed:
            z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (N, D): the global batch
        on, off = on_off_diagonal(cross_correlation(z1, z2, self.eps))
        return {"on_diag": on, "off_diag": off}

    def weigh(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """on_diag + λ·off_diag."""
        return terms["on_diag"] + self.off_diag_weight * terms["off_diag"]

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return self.weigh(self.terms(z1, z2))
