"""DINO's loss: centring and sharpening by hand, the skipped same-view pairs, the centre's
update, and 2 DDP processes equal to 1 with the whole batch (the centre is all-reduced)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from distributed_helpers import assert_same, ddp_and_single
from torch import nn

from pretrainkit.losses.dino import DINOLoss, cross_view_entropy, teacher_probs


def test_centring_and_sharpening_by_hand():
    # centring removes what every image shares: [3, 1] - [2, 0] = [1, 1] -> uniform
    uniform = teacher_probs(torch.tensor([[3.0, 1.0]]), torch.tensor([[2.0, 0.0]]), 0.04)
    torch.testing.assert_close(uniform, torch.tensor([[0.5, 0.5]]))
    # sharpening: softmax([2, 0] / τ) = [σ(2/τ), 1 - σ(2/τ)]; τ = 1: 0.8808, τ = 0.5: 0.9820
    t, c = torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2)
    torch.testing.assert_close(
        teacher_probs(t, c, 1.0), torch.tensor([[0.8808, 0.1192]]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        teacher_probs(t, c, 0.5), torch.tensor([[0.9820, 0.0180]]), atol=1e-4, rtol=0
    )


def test_cross_entropy_skips_each_global_view_against_itself():
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # (G=2, B=1, K=2): one-hot teachers
    q = torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]], [[0.2, 0.8]]])  # (V=3, B=1, K=2) students
    # H(p_g, q_v) = -log q_v[g]; the pairs (0, 0) and (1, 1) are left out
    pairs = [-math.log(0.9), -math.log(0.2), -math.log(0.5), -math.log(0.8)]
    assert cross_view_entropy(probs, q.log()).item() == pytest.approx(sum(pairs) / 4)


def test_loss_and_centre_update_by_hand():
    loss = DINOLoss(out_dim=2, student_temp=1.0, center_momentum=0.9)
    teacher = torch.tensor([[[0.0, 2.0], [2.0, 4.0]], [[1.0, 3.0], [1.0, 3.0]]])  # (2, 2, 2)
    student = torch.zeros(3, 2, 2)  # uniform: every pair costs log 2
    assert loss(student, teacher, 0.04).item() == pytest.approx(math.log(2))
    loss.update_center(teacher)  # mean [1, 3]: c = 0.9·0 + 0.1·[1, 3]
    torch.testing.assert_close(loss.center, torch.tensor([[0.1, 0.3]]))
    loss.update_center(torch.tensor([[[2.0, 0.0]]]))  # c = 0.9·[0.1, 0.3] + 0.1·[2, 0]
    torch.testing.assert_close(loss.center, torch.tensor([[0.29, 0.27]]))


class CentredDINO(nn.Module):
    """DINOLoss of two views as student and (without gradient) teacher, after two centre
    updates from zero: a centre from this rank's half of the batch alone would change the loss."""

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        loss = DINOLoss(out_dim=4, center_momentum=0.5)  # a fresh centre in every process
        views = torch.stack([z1, z2])  # (2, B, 4)
        loss.update_center(views.detach())
        loss.update_center(views.detach().square())
        return loss(views, views.detach(), 0.04)


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    assert_same(*ddp_and_single(CentredDINO(), tmp_path))
