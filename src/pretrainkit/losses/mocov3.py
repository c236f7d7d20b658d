"""MoCo v3's symmetric InfoNCE between queries and momentum-encoder keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.errors import BadValueError
from pretrainkit.losses.distributed import gather_with_grad, world
from pretrainkit.losses.precision import in_float32


def moco_contrastive(
    q: torch.Tensor,
    k: torch.Tensor,
    temperature: float = 0.2,
    k_all: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """ctr(q, k): InfoNCE of each local query against all N keys, scaled by 2τ; `k` gets no
    gradient.

    Args:
        q: queries of the local batch, (B, D).
        k: keys of the same images' other view, (B, D); row i is query i's positive.
        temperature: softmax temperature τ.
        k_all: keys of the global batch, (N, D), with the local batch at rows
            `offset:offset+B`; defaults to `k` (one process).
        offset: where the local batch starts in the global batch.
    """
    k_all = k if k_all is None else k_all
    q = F.normalize(q, dim=1)
    k_all = F.normalize(k_all.detach(), dim=1)
    logits = q @ k_all.T / temperature  # (B, N)
    labels = torch.arange(len(q), device=q.device) + offset
    # 2τ: the paper's scaling, which keeps the gradient's size about the same across τ
    return F.cross_entropy(logits, labels) * (2 * temperature)


class MoCoV3Loss(nn.Module):
    """MoCo v3's symmetrised contrastive loss (Chen, Xie, He, 2021, "An Empirical Study of
    Training Self-Supervised Vision Transformers", arXiv:2104.02057): ctr(q1, k2) + ctr(q2, k1).

    With `gather_distributed`, the negatives are the keys of every DDP rank, gathered without
    gradient (they come from the momentum encoder), and each rank's labels are offset by its
    place in the global batch. The loss is then a mean of per-query terms, so DDP's gradient
    averaging over equal local batches gives exactly one process's gradient on the whole batch.
    """

    def __init__(self, temperature: float = 0.2, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise BadValueError(f"temperature={temperature} must be > 0 (MoCo v3 uses 0.2-1.0).")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    @in_float32
    def forward(
        self, q1: torch.Tensor, q2: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor
    ) -> torch.Tensor:
        """Queries `q1`, `q2` of views 1 and 2; momentum keys `k1`, `k2` of them."""
        return self.ctr(q1, k2) + self.ctr(q2, k1)

    def ctr(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        if not self.gather_distributed or size == 1:
            return moco_contrastive(q, k, self.temperature)
        k_all = gather_with_grad(k.detach())  # a detached input: a plain all_gather
        return moco_contrastive(q, k, self.temperature, k_all, offset=rank * len(q))
