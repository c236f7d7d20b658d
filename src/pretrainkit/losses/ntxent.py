"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.errors import BadValueError
from pretrainkit.losses.distributed import gather_with_grad, world
from pretrainkit.losses.precision import in_float32


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float = 0.1,
    z1_all: torch.Tensor | None = None,
    z2_all: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """Mean NT-Xent over this process's 2B anchors against all 2N candidates.

    Args:
        z1: first-view embeddings of the local batch, (B, D).
        z2: second-view embeddings, (B, D); row i is the positive of z1's row i.
        temperature: softmax temperature τ.
        z1_all: first views of the global batch, (N, D), with the local batch at rows
            `offset:offset+B`; defaults to `z1` (one process).
        z2_all: second views of the global batch, likewise.
        offset: where the local batch starts in the global batch.
    """
    z1_all = z1 if z1_all is None else z1_all
    z2_all = z2 if z2_all is None else z2_all
    b, n = z1.shape[0], z1_all.shape[0]
    anchors = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    candidates = F.normalize(torch.cat([z1_all, z2_all]), dim=1)  # (2N, D)
    logits = anchors @ candidates.T / temperature  # (2B, 2N)

    local = torch.arange(b, device=z1.device) + offset
    self_idx = torch.cat([local, local + n])  # each anchor's own column
    positive = torch.cat([local + n, local])  # the other view of the same image
    is_self = F.one_hot(self_idx, 2 * n).bool()  # (2B, 2N)
    logits = logits.masked_fill(is_self, float("-inf"))
    return F.cross_entropy(logits, positive)


class NTXentLoss(nn.Module):
    """NT-Xent loss (Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations", arXiv:2002.05709).

    With `gather_distributed`, negatives come from every DDP rank with gradients, so N processes
    with batch B give exactly the loss and gradients of one process with batch N·B.
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise BadValueError(f"temperature={temperature} must be > 0 (SimCLR uses 0.1-0.5).")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    @in_float32
    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        if not self.gather_distributed or size == 1:
            return nt_xent(z1, z2, self.temperature)
        z1_all, z2_all = gather_with_grad(z1), gather_with_grad(z2)
        return nt_xent(z1, z2, self.temperature, z1_all, z2_all, offset=rank * z1.shape[0])
