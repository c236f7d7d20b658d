"""SCARF: contrastive learning between a table row and a copy with random features corrupted."""

from __future__ import annotations

from typing import Annotated

import torch

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.heads import mlp
from pretrainkit.losses.ntxent import NTXentLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


class SCARF(PretextTask):
    """SCARF (Bahri, Jiang, Tay, Metzler, 2022, "SCARF: Self-Supervised Contrastive Learning
    using Random Feature Corruption", ICLR, arXiv:2106.15147).

    A row and its corrupted copy (a random `augment.corruption_rate` of its features replaced by
    draws from each feature's empirical marginal: `pretrainkit.data.tabular.corrupt`) go through
    the backbone in one batch and a pretraining head g; InfoNCE pulls each pair together against
    the batch's other rows (the kit's NT-Xent, gathered across DDP ranks like SimCLR's).
    Paper defaults: corruption rate 0.6, temperature 1, a 2-layer 256-wide ReLU head; the paper's
    encoder is a 4-layer 256-wide ReLU MLP (backbone=mlp).
    """

    name = "scarf"
    modality = "tabular"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        head_hidden_dim: Annotated[int, Range(ge=1)] = 256,
        head_output_dim: Annotated[int, Range(ge=1)] = 256,
        temperature: Annotated[float, Range(gt=0)] = 1.0,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.head = mlp(backbone.feature_dim, [head_hidden_dim], head_output_dim)
        self.loss_fn = NTXentLoss(temperature=temperature)

    def step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        x, corrupted = batch["x"], batch["corrupted"]
        z = self.head(self.backbone(torch.cat([x, corrupted])))  # (2B, D)
        anchor, positive = z.chunk(2)
        loss = self.loss_fn(anchor, positive)
        self.log_terms(stage, len(x), loss)
        return loss
