"""DINO's loss: the cross-entropy from a centred, sharpened teacher to the student, over pairs of
different views, and the running centre of the teacher's outputs."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pretrainkit.config.values import Range
from pretrainkit.losses.distributed import world
from pretrainkit.losses.precision import in_float32


def teacher_probs(teacher: torch.Tensor, center: torch.Tensor, temperature: float) -> torch.Tensor:
    """Centring and sharpening: softmax((t - c) / τ_t) over the last dimension (the outputs).

    Subtracting the centre keeps one output from dominating for every image; a low τ_t keeps
    the distribution from going uniform. Either alone collapses (the paper's section 5.3).
    """
    return F.softmax((teacher - center) / temperature, dim=-1)


def cross_view_entropy(probs: torch.Tensor, log_student: torch.Tensor) -> torch.Tensor:
    """Mean over pairs (g, v) with v ≠ g of the batch mean of H(P_t^g, P_s^v) = -Σ_k p log q.

    Args:
        probs: the teacher's probabilities of the G global views, (G, B, K).
        log_student: the student's log-probabilities of all V views, (V, B, K), the first G
            being the teacher's views in the same order: those pairs (a view against itself)
            are skipped.
    """
    g, b, _ = probs.shape
    v = log_student.shape[0]
    ce = -torch.einsum("gbk,vbk->gv", probs, log_student) / b  # (G, V)
    same = torch.eye(g, v, dtype=torch.bool, device=ce.device)
    return ce[~same].mean()


@torch.no_grad()
def batch_center(teacher: torch.Tensor) -> torch.Tensor:
    """The mean teacher output over the global batch, (1, K): every rank's sum all-reduced and
    divided by the number of rows on all ranks (equal batches on every rank: drop_last)."""
    total = teacher.reshape(-1, teacher.shape[-1]).sum(0, keepdim=True)  # (1, K)
    count = total.new_tensor(teacher[..., 0].numel())
    if world()[1] > 1:
        dist.all_reduce(total)
        dist.all_reduce(count)
    return total / count


class DINOLoss(nn.Module):
    """DINO's loss (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision
    Transformers", arXiv:2104.14294, algorithm 1 and section 3.1).

    The teacher's outputs of the global views are centred (minus `center`) and sharpened
    (temperature τ_t), the student's of every view softened at `student_temp`; the loss is the
    cross-entropy between them, averaged over the pairs of different views. After each training
    step `update_center` moves the centre: c ← m·c + (1 - m)·mean of the teacher's outputs.

    Distributed: the loss is a mean of per-sample terms, so DDP's averaging of equal per-rank
    batches' gradients already gives the global batch's; it needs no gather. The centre is
    the batch mean over every rank (an all_reduce of the sums), so each rank keeps the same
    centre, equal to that of one process on the whole global batch. The centre is a buffer:
    it is saved in checkpoints. Computed in float32 under mixed precision (softmax at τ_t =
    0.04 of bf16 logits would lose most of its resolution).

    Args:
        out_dim: K, the number of outputs the centre has.
        student_temp: τ_s (the paper: 0.1).
        center_momentum: m (the paper: 0.9).
    """

    center: torch.Tensor

    def __init__(
        self,
        out_dim: int,
        student_temp: Annotated[float, Range(gt=0)] = 0.1,
        center_momentum: Annotated[float, Range(ge=0, le=1)] = 0.9,
    ) -> None:
        super().__init__()
        self.student_temp, self.center_momentum = student_temp, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    @in_float32
    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor, teacher_temp: float
    ) -> torch.Tensor:
        """Student outputs (V, B, K) of all views, teacher outputs (G, B, K) of the first G."""
        probs = teacher_probs(teacher.detach(), self.center, teacher_temp)  # (G, B, K)
        return cross_view_entropy(probs, F.log_softmax(student / self.student_temp, dim=-1))

    @torch.no_grad()
    def update_center(self, teacher: torch.Tensor) -> None:
        """c ← m·c + (1 - m)·(the teacher outputs' mean over the global batch)."""
        self.center.lerp_(batch_center(teacher.float()), 1 - self.center_momentum)
