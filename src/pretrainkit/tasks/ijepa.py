"""I-JEPA: from one large block of an image, predict the representations of a few other blocks."""

from __future__ import annotations

import copy
import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.backbones.timm import fused_attention
from pretrainkit.backbones.vit import (
    encode_visible,
    fix_sincos_pos_embed,
    gather_tokens,
    sincos_pos_embed,
)
from pretrainkit.config.values import Range
from pretrainkit.losses.precision import in_float32
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay
from pretrainkit.tasks.block_masks import MultiBlockMasks
from pretrainkit.tasks.byol import ema_update_
from pretrainkit.tasks.mae import vision_transformer

Share = Annotated[float, Range(gt=0, le=1)]


def linear_momentum(step: int, total_steps: float, base: float) -> float:
    """τ_k = τ_base + (1 - τ_base)·k/K, the paper's linear rise from τ_base to 1 at k = K.

    An infinite `total_steps` (a run without an epoch or step budget) keeps τ at τ_base.
    """
    return base + (1 - base) * min(step, total_steps) / max(total_steps, 1)


def jepa_loss(pred: torch.Tensor, target: torch.Tensor, smooth_l1: bool = True) -> torch.Tensor:
    """The mean over target patches and channels of smooth-L1 (β = 1, the paper's code) or of
    the squared error (its text: an average L2 distance)."""
    if smooth_l1:
        return F.smooth_l1_loss(pred, target)
    return F.mse_loss(pred, target)


class IJEPAPredictor(nn.Module):
    """A narrow ViT: the context tokens, each at its fixed sin-cos position on the (rows,
    columns) `grid`, with one mask token per patch of a target block at that patch's position,
    through a few blocks to the encoder's width. Each target block is its own sequence (the
    context repeated per block), as in the paper, so blocks cannot see each other's queries."""

    def __init__(
        self,
        encoder_dim: int,
        grid: tuple[int, int],
        num_prefix: int = 1,
        dim: int = 96,
        depth: int = 4,
        num_heads: int = 3,
    ) -> None:
        super().__init__()
        self.num_prefix = num_prefix
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        pos = torch.cat([torch.zeros(num_prefix, dim), sincos_pos_embed(dim, grid)])  # (P+N, D)
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=False)
        blocks = [Block(dim, num_heads, qkv_bias=True) for _ in range(depth)]
        self.blocks = fused_attention(nn.Sequential(*blocks))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.proj = nn.Linear(dim, encoder_dim)

    def forward(
        self, latent: torch.Tensor, context: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Encoder output (B, P + K, De) of the patches `context` (B, K), target patches
        (B, M, T) -> predicted representations (B, M, T, De)."""
        b, m, t = targets.shape
        p = self.num_prefix
        pos = self.pos_embed[:, p:].expand(b, -1, -1)  # (B, N, D)
        x = self.embed(latent)  # (B, P + K, D)
        x = x + torch.cat([self.pos_embed[:, :p].expand(b, -1, -1), gather_tokens(pos, context)], 1)
        queries = self.mask_token + gather_tokens(pos, targets.flatten(1))  # (B, M*T, D)
        queries = queries.reshape(b * m, t, -1)  # (B*M, T, D): row i*M + j is image i, block j
        x = torch.cat([x.repeat_interleave(m, dim=0), queries], dim=1)  # (B*M, P + K + T, D)
        x = self.norm(self.blocks(x))
        return self.proj(x[:, -t:]).reshape(b, m, t, -1)  # (B, M, T, De)


class IJEPA(PretextTask):
    """I-JEPA (Assran et al., 2023, "Self-Supervised Learning from Images with a
    Joint-Embedding Predictive Architecture", arXiv:2301.08243).

    The ViT backbone (the context encoder, the one exported) encodes only a context block's
    patches; a narrow predictor regresses, at each of a few target blocks' patch positions,
    what a target encoder makes of the full image there, layer-normed. The target encoder is
    a copy of the backbone updated only by an EMA after every optimizer step, τ rising
    linearly from `base_momentum` to 1 over the run (the paper's schedule); it takes no
    gradient and is left out of the optimizer, but stays in the state dict. Positions are
    fixed 2-D sin-cos in encoder and predictor. The loss averages smooth-L1 over target patches
    and channels, as the paper's code (its text says L2: `smooth_l1=false`).

    Paper defaults: 4 target blocks of scale 0.15-0.2 and aspect ratio 0.75-1.5, one context
    block of scale 0.85-1.0 (`MultiBlockMasks`, which also says how tiny grids are handled),
    momentum 0.996 -> 1, weight decay 0.04 (the paper raises it to 0.4 over the run; a constant
    here). The predictor is narrower and shallower than the paper's (384 wide, 6-12 deep; its
    ViT-H/14 config: 12): 96 wide (half ViT-Tiny's 192, near the paper's 384 of 1280) and 4
    deep, because it reads the context once per target block (four times the encoder's
    tokens), so each of its blocks costs one to two encoder blocks on a CPU; 4 of them stay a
    fraction of a 12-block ViT-Tiny's step, as a light decoder should.

    The encoder's prefix (class) token joins the context tokens in the predictor (I-JEPA's
    ViTs have none); that way the token the exported backbone pools is trained too.
    """

    name = "ijepa"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_targets: Annotated[int, Range(ge=1)] = 4,
        target_scale: tuple[float, float] = (0.15, 0.2),
        target_aspect: tuple[float, float] = (0.75, 1.5),
        context_scale: tuple[float, float] = (0.85, 1.0),
        min_context: Share = 0.05,
        predictor_dim: int = 96,
        predictor_depth: int = 4,
        predictor_heads: int = 3,
        base_momentum: Annotated[float, Range(ge=0, le=1)] = 0.996,
        smooth_l1: bool = True,
        weight_decay: WeightDecay = 0.04,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        vit = vision_transformer(backbone, self.name)
        fix_sincos_pos_embed(vit)
        grid = tuple(vit.patch_embed.grid_size)
        self.masks = MultiBlockMasks(
            grid, num_targets, tuple(target_scale), tuple(target_aspect), tuple(context_scale),
            min_context,
        )  # fmt: skip
        self.predictor = IJEPAPredictor(
            vit.embed_dim, grid, vit.num_prefix_tokens, predictor_dim, predictor_depth,
            predictor_heads,
        )  # fmt: skip
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.base_momentum = base_momentum
        self.smooth_l1 = smooth_l1
        self._total_steps = math.inf

    @torch.no_grad()
    def targets(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The target encoder's layer-normed output on the full images at the target patches
        (B, M, T) -> (B, M, T, De)."""
        vit = self.target_backbone.model
        h = vit.forward_features(images)[:, vit.num_prefix_tokens :]  # (B, N, De)
        h = F.layer_norm(h, h.shape[-1:])
        b, m, t = targets.shape
        return gather_tokens(h, targets.flatten(1)).reshape(b, m, t, -1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted and target representations of the target patches, (B, M, T, De) each."""
        context, targets = self.masks(len(images))
        context, targets = context.to(images.device), targets.to(images.device)
        latent = encode_visible(self.backbone.model, images, context)  # (B, P + K, De)
        return self.predictor(latent, context, targets), self.targets(images, targets)

    @in_float32
    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return jepa_loss(pred, target, self.smooth_l1)

    def step(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        loss = self.loss(*self(x))
        self.log_terms(stage, len(x), loss)
        return loss

    def on_train_start(self) -> None:
        self._total_steps = self.trainer.estimated_stepping_batches

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # After the step, as BYOL: a step checkpoint then holds the updated target.
        tau = linear_momentum(self.trainer.global_step, self._total_steps, self.base_momentum)
        ema_update_(self.target_backbone, self.backbone, tau)
        self.log("train/momentum", torch.tensor(tau), on_step=True, on_epoch=False)
