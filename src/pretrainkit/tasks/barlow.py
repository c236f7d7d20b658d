"""Barlow Twins: make the two views' embeddings agree and their dimensions decorrelated."""

from __future__ import annotations

import torch

from pretrainkit.backbones.base import Backbone
from pretrainkit.heads import mlp
from pretrainkit.losses.barlow import BarlowTwinsLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


class BarlowTwins(PretextTask):
    """Barlow Twins (Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
    Reduction", arXiv:2103.03230).

    Both views go through the backbone in one batch, then a 3-layer projector (Linear-BN-ReLU
    twice, then Linear, all `projector_dim` wide); `BarlowTwinsLoss` takes the cross-correlation
    over the global batch. The two sums are logged unweighted as `stage/on_diag` and
    `stage/off_diag`. Defaults: the paper's (8192-wide projector, λ = 5e-3).
    """

    name = "barlow"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        projector_dim: int = 8192,
        off_diag_weight: float = 5e-3,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.projector = mlp(backbone.feature_dim, [projector_dim, projector_dim], projector_dim)
        self.loss_fn = BarlowTwinsLoss(off_diag_weight)

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        z1, z2 = self.projector(self.backbone(torch.cat(views))).chunk(2)  # (B, D) each
        terms = self.loss_fn.terms(z1, z2)
        loss = self.loss_fn.weigh(terms)
        self.log_terms(stage, len(z1), loss, terms)
        return loss
