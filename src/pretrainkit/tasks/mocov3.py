"""MoCo v3: queries predict a momentum encoder's keys of the other view, against the batch."""

from __future__ import annotations

import copy
import math
from typing import Annotated, Any

import torch
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.heads import mlp
from pretrainkit.losses.mocov3 import MoCoV3Loss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay
from pretrainkit.tasks.byol import cosine_momentum, ema_update_


def patch_projection(backbone: Backbone) -> nn.Module | None:
    """The layer a timm ViT maps its patches to tokens with (`patch_embed.proj`), or None for a
    backbone without one (a ResNet, a CNN)."""
    embed = getattr(getattr(backbone, "model", None), "patch_embed", None)
    return getattr(embed, "proj", None)


class MoCoV3(PretextTask):
    """MoCo v3 (Chen, Xie, He, 2021, "An Empirical Study of Training Self-Supervised Vision
    Transformers", arXiv:2104.02057).

    The query encoder (backbone, projector, predictor) and the momentum encoder (backbone and
    projector only) each encode both views; the loss is the symmetrised InfoNCE
    ctr(q1, k2) + ctr(q2, k1) against the keys of the whole global batch, scaled by 2τ
    (`MoCoV3Loss`). Each view goes through a network on its own, so BatchNorm normalises one
    view's batch, as the official code. The momentum encoder takes no gradient and is left out
    of the optimizer; after every optimizer step it moves to τ·itself + (1 - τ)·the query
    encoder, τ rising from `base_momentum` to 1 by a cosine over the run (BYOL's schedule,
    `cosine_momentum`). It stays in the state dict, so a checkpoint resumes with it. The query
    backbone is the one exported.

    Heads as the paper's implementation details and the official code's ViT model: a
    `proj_layers`-layer
    projector and a 2-layer predictor, Linear-BN-ReLU hidden layers of 4096, a 256-d output
    followed by a BatchNorm without affine parameters (the predictor's with `pred_last_bn`).
    Defaults are the paper's ViT recipe: τ = 0.2, momentum 0.99 -> 1, and a frozen random patch
    projection (`freeze_patch_embed`), the paper's fix for the loss spikes of ViT training
    (section 4.2). The official ResNet-50 recipe differs: a 2-layer projector, no BatchNorm
    after the predictor, and τ = 1.0.

    Args:
        proj_layers: Linear layers of the projector (3 as the paper; 2 in the official ResNet).
        pred_last_bn: BatchNorm after the predictor's output (the official ViT's; not ResNet's).
        temperature: τ of the softmax.
        base_momentum: τ of the momentum update at the first step.
        freeze_patch_embed: keep a ViT's patch projection at its random initialisation; None:
            on for a ViT (the paper), nothing to freeze on other backbones; True refuses them.
    """

    name = "mocov3"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        proj_hidden_dim: int = 4096,
        proj_output_dim: int = 256,
        pred_hidden_dim: int = 4096,
        proj_layers: Annotated[int, Range(ge=2)] = 3,
        pred_last_bn: bool = True,
        temperature: Annotated[float, Range(gt=0)] = 0.2,
        base_momentum: Annotated[float, Range(ge=0, le=1)] = 0.99,
        freeze_patch_embed: bool | None = None,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        self._freeze_patch_projection(freeze_patch_embed)
        hidden = [proj_hidden_dim] * (proj_layers - 1)
        self.projector = mlp(backbone.feature_dim, hidden, proj_output_dim, last_bn=True)
        self.predictor = mlp(
            proj_output_dim, [pred_hidden_dim], proj_output_dim, last_bn=pred_last_bn
        )
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.base_momentum = base_momentum
        self.loss_fn = MoCoV3Loss(temperature=temperature)
        self._total_steps = math.inf

    def _freeze_patch_projection(self, freeze: bool | None) -> None:
        proj = patch_projection(self.backbone)
        if freeze and proj is None:
            name = self.backbone.spec.get("name") or type(self.backbone).__name__
            raise BadValueError(
                f"task.freeze_patch_embed=true freezes a ViT's patch projection, but backbone "
                f"{name} has none; use backbone=vit_tiny, or task.freeze_patch_embed=null"
            )
        if proj is not None and freeze is not False:
            proj.requires_grad_(False)  # so the optimizer never gets it (param_groups)

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        q1, q2 = (self.predictor(self.projector(self.backbone(x))) for x in views)  # (B, D)
        with torch.no_grad():
            k1, k2 = (self.target_projector(self.target_backbone(x)) for x in views)
        loss = self.loss_fn(q1, q2, k1, k2)
        self.log_terms(stage, len(views[0]), loss)
        return loss

    @torch.no_grad()
    def momentum_update(self, tau: float) -> None:
        """The momentum encoder <- τ·itself + (1 - τ)·the query encoder (the predictor has no
        counterpart)."""
        ema_update_(self.target_backbone, self.backbone, tau)
        ema_update_(self.target_projector, self.projector, tau)

    def on_train_start(self) -> None:
        self._total_steps = self.trainer.estimated_stepping_batches

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # After the step, before the callbacks' hooks (see BYOL.optimizer_step); the official
        # code's update at the start of the next forward is the same arithmetic.
        tau = cosine_momentum(self.trainer.global_step, self._total_steps, self.base_momentum)
        self.momentum_update(tau)
        self.log("train/momentum", torch.tensor(tau), on_step=True, on_epoch=False)
