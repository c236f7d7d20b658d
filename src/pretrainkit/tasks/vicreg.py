"""VICReg: invariance between two views, with variance and covariance terms against collapse."""

from __future__ import annotations

import torch

from pretrainkit.backbones.base import Backbone
from pretrainkit.heads import mlp
from pretrainkit.losses.vicreg import VICRegLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


class VICReg(PretextTask):
    """VICReg (Bardes et al., 2022, "VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning", arXiv:2105.04906).

    Both views go through the backbone in one batch, then a 3-layer expander (Linear-BN-ReLU
    twice, then Linear, all `expander_dim` wide); `VICRegLoss` takes the variance and covariance
    over the global batch. The terms are logged unweighted as `stage/invariance`,
    `stage/variance` and `stage/covariance`. Defaults: the paper's (8192-wide expander,
    λ = μ = 25, ν = 1).
    """

    name = "vicreg"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        expander_dim: int = 8192,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.expander = mlp(backbone.feature_dim, [expander_dim, expander_dim], expander_dim)
        self.loss_fn = VICRegLoss(invariance_weight, variance_weight, covariance_weight)

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        z1, z2 = self.expander(self.backbone(torch.cat(views))).chunk(2)  # (B, D) each
        terms = self.loss_fn.terms(z1, z2)
        loss = self.loss_fn.weigh(terms)
        self.log_terms(stage, len(z1), loss, terms)
        return loss
