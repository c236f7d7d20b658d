"""VICReg: variance-invariance-covariance regularisation of two views' embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.losses.distributed import gather_with_grad
from pretrainkit.losses.precision import in_float32


def invariance(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the two views' embeddings, per element."""
    return F.mse_loss(z1, z2)


def variance(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Mean over dimensions of the hinge max(0, γ - sqrt(Var + ε)) on each dimension's batch
    standard deviation (unbiased variance, as the paper's code); z is (N, D)."""
    std = torch.sqrt(z.var(dim=0) + eps)  # (D,)
    return F.relu(gamma - std).mean()


def covariance(z: torch.Tensor) -> torch.Tensor:
    """Sum of the squared off-diagonal entries of the batch covariance matrix, divided by D."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = z.T @ z / (n - 1)  # (D, D)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


class VICRegLoss(nn.Module):
    """VICReg loss (Bardes et al., 2022, "VICReg: Variance-Invariance-Covariance Regularization
    for Self-Supervised Learning", arXiv:2105.04906): λ·invariance + μ·variance + ν·covariance,
    the variance and covariance terms taken on each branch and summed (variance averaged).

    Invariance is per sample and is taken on the local batch: DDP's gradient averaging over
    equal local batches makes it the global mean. Variance and covariance are statistics of the
    whole batch: with `gather_distributed` they are computed on embeddings gathered from every
    DDP rank with gradients, so every rank holds the global value, and W processes with batch B
    get exactly the loss and gradients of one process with batch W·B (the gather's backward
    sums every rank's gradient, DDP divides by W; see `pretrainkit.losses.distributed`).

    Args:
        invariance_weight: λ (paper: 25).
        variance_weight: μ (paper: 25).
        covariance_weight: ν (paper: 1).
        gamma: target standard deviation of every dimension (paper: 1).
        eps: added to the variance before the square root, for stability (paper: 1e-4).
        gather_distributed: take the batch statistics over all DDP ranks.
    """

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.weights = {
            "invariance": invariance_weight,
            "variance": variance_weight,
            "covariance": covariance_weight,
        }
        self.gamma, self.eps = gamma, eps
        self.gather_distributed = gather_distributed

    @in_float32
    def terms(self, z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms for embeddings (B, D) of the two views of the local batch."""
        inv = invariance(z1, z2)
        if self.gather_distributed:
            z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (N, D): the global batch
        var = (variance(z1, self.gamma, self.eps) + variance(z2, self.gamma, self.eps)) / 2
        cov = covariance(z1) + covariance(z2)
        return {"invariance": inv, "variance": var, "covariance": cov}

    def weigh(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """λ·invariance + μ·variance + ν·covariance."""
        return sum(self.weights[k] * terms[k] for k in self.weights)  # type: ignore[return-value]

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return self.weigh(self.terms(z1, z2))
