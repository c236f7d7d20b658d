"""RotNet: predict which of four rotations was applied to an image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pretrainkit.backbones.base import Backbone
from pretrainkit.errors import BadValueError
from pretrainkit.heads import mlp
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


def rotate_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image at 0, 90, 180 and 270 degrees, with the rotation index as its label.

    Returns images (4B, C, H, W), ordered by rotation then by image, and labels (4B,).
    """
    if x.shape[-1] != x.shape[-2]:
        raise BadValueError(f"rotation prediction needs square images, got {tuple(x.shape[-2:])}")
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])  # (4B, C, H, W)
    labels = torch.arange(4, device=x.device).repeat_interleave(len(x))  # (4B,)
    return rotated, labels


class Rotation(PretextTask):
    """Rotation prediction (Gidaris et al., 2018, "Unsupervised Representation Learning by
    Predicting Image Rotations", arXiv:1803.07728).

    All four rotations of every image go through the backbone in one batch, as in the paper
    (which found this better than one random rotation per image); a small MLP head classifies
    the rotation. The backbone's features are the representation.
    """

    name = "rotation"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        head_hidden_dim: int = 256,
        weight_decay: WeightDecay = 5e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.head = mlp(backbone.feature_dim, [head_hidden_dim], 4)

    def step(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        rotated, labels = rotate_batch(x)
        logits = self.head(self.backbone(rotated))  # (4B, 4)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        self.log_terms(stage, len(x), loss, {"rot_acc": acc}, terms_on_bar=True)
        return loss
