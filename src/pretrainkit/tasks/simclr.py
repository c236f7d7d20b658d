"""SimCLR: contrastive learning between two augmented views of each image."""

from __future__ import annotations

from typing import Annotated

import torch

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.heads import projection_head
from pretrainkit.losses.ntxent import NTXentLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


class SimCLR(PretextTask):
    """SimCLR (Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations", arXiv:2002.05709).

    Both views go through the backbone in one batch (so BatchNorm sees both, as in the paper),
    then a 2-layer projector; NT-Xent pulls each image's views together against every other
    view in the global batch. Defaults: a 512-128 projector and temperature 0.5, the paper's
    CIFAR-10 settings (its τ=0.1 goes with LARS and ImageNet batches of 4096).
    """

    name = "simclr"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        proj_hidden_dim: int = 512,
        proj_output_dim: int = 128,
        temperature: Annotated[float, Range(gt=0)] = 0.5,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.projector = projection_head(backbone.feature_dim, proj_hidden_dim, proj_output_dim)
        self.loss_fn = NTXentLoss(temperature=temperature)

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        x1, x2 = views
        z = self.projector(self.backbone(torch.cat([x1, x2])))  # (2B, D)
        z1, z2 = z.chunk(2)
        loss = self.loss_fn(z1, z2)
        self.log_terms(stage, len(x1), loss)
        return loss
