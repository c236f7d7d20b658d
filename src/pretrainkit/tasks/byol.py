"""BYOL: an online network learns to predict a slowly moving target network's projections."""

from __future__ import annotations

import copy
import math
from typing import Annotated, Any

import torch
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.heads import mlp
from pretrainkit.losses.byol import BYOLLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


def cosine_momentum(step: int, total_steps: float, base: float) -> float:
    """τ_k = 1 - (1 - τ_base)(cos(πk/K) + 1)/2: τ_base at k = 0, rising to 1 at k = K.

    An infinite `total_steps` (a run without an epoch or step budget) keeps τ at τ_base.
    """
    progress = min(step, total_steps) / max(total_steps, 1)
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """ξ ← τ·ξ + (1 - τ)·θ for every parameter pair, in place.

    Buffers (BatchNorm running statistics) are not averaged: the target's come from its own
    forward passes, as in the paper's implementation.
    """
    for xi, theta in zip(target.parameters(), online.parameters(), strict=True):
        xi.lerp_(theta, 1 - momentum)  # ξ + (1 - τ)(θ - ξ)


class BYOL(PretextTask):
    """BYOL (Grill et al., 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised
    Learning", arXiv:2006.07733).

    The online backbone + projector + predictor regresses, for each view, the target backbone +
    projector's output on the other view (`BYOLLoss`, symmetrised). The target is a copy of the
    online network updated only by an exponential moving average after every optimizer step,
    with τ following the paper's cosine schedule from `base_momentum` to 1 over the run. Its
    parameters take no gradient and are left out of the optimizer, but stay in the state dict,
    so a checkpoint resumes with its target. The target runs in the module's mode: in training
    its BatchNorm normalises with the current batch's statistics, as the paper's implementation.
    Both views go through each network in one batch, so BatchNorm sees both. The online
    backbone is the one exported. Defaults: the paper's 4096-256 projector and predictor.
    """

    name = "byol"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        proj_hidden_dim: int = 4096,
        proj_output_dim: int = 256,
        pred_hidden_dim: int = 4096,
        base_momentum: Annotated[float, Range(ge=0, le=1)] = 0.996,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self.projector = mlp(backbone.feature_dim, [proj_hidden_dim], proj_output_dim)
        self.predictor = mlp(proj_output_dim, [pred_hidden_dim], proj_output_dim)
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.base_momentum = base_momentum
        self.loss_fn = BYOLLoss()
        self._total_steps = math.inf

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        x = torch.cat(views)  # (2B, C, H, W)
        p1, p2 = self.predictor(self.projector(self.backbone(x))).chunk(2)  # (B, D) each
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_backbone(x)).chunk(2)
        loss = self.loss_fn(p1, p2, z1, z2)
        self.log_terms(stage, len(views[0]), loss)
        return loss

    def on_train_start(self) -> None:
        self._total_steps = self.trainer.estimated_stepping_batches

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # Here rather than in on_train_batch_end, which runs after the callbacks' (a step
        # checkpoint would be saved before this update and a resumed target would lag by one).
        step = self.trainer.global_step  # k: counted once this hook returns
        tau = cosine_momentum(step, self._total_steps, self.base_momentum)
        ema_update_(self.target_backbone, self.backbone, tau)
        ema_update_(self.target_projector, self.projector, tau)
        # A CPU tensor: a float would be copied to the module's device every step (self.log
        # does torch.tensor(tau, device=...)), a copy the host waits for; logged at log steps.
        self.log("train/momentum", torch.tensor(tau), on_step=True, on_epoch=False)
