"""MAE: mask most patches of an image, reconstruct their pixels from the visible rest."""

from __future__ import annotations

import math
from typing import Annotated

import torch
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.backbones.timm import fused_attention
from pretrainkit.losses.masked_mse import masked_mse, normalize_patches
from pretrainkit.losses.precision import in_float32
from pretrainkit.patches import (
    gather_tokens,
    num_visible,
    patchify,
    random_masking,
    sincos_pos_embed,
)
from pretrainkit.schema import Range
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


def vision_transformer(backbone: Backbone) -> VisionTransformer:
    """The timm ViT inside `backbone`, or a ValueError that says how to get one."""
    model = getattr(backbone, "model", None)
    if not isinstance(model, VisionTransformer) or model.pos_embed is None:
        name = type(backbone).__name__
        if "name" in backbone.spec:
            name += f"({backbone.spec['name']})"
        raise ValueError(
            f"task=mae masks the patches of a ViT, but the backbone is {name}. "
            "Use backbone=vit_tiny."
        )
    return model


def fix_sincos_pos_embed(vit: VisionTransformer) -> None:
    """Set the ViT's position embeddings to fixed 2-D sin-cos (zero for prefix tokens), as the
    MAE encoder has; fine-tuning starts from them and may train them."""
    n_prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
    grid = vit.patch_embed.grid_size[0]
    with torch.no_grad():
        vit.pos_embed.zero_()
        vit.pos_embed[0, n_prefix:] = sincos_pos_embed(vit.embed_dim, grid)
    vit.pos_embed.requires_grad_(False)


def encode_visible(
    vit: VisionTransformer, images: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    """The ViT's own modules on the visible patches `keep` (B, K) only -> (B, prefix + K, D).

    Same parameters as `vit(images)`, so the backbone trained here is the one exported.
    """
    n_prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
    x = vit.patch_embed(images) + vit.pos_embed[:, n_prefix:]  # (B, N, D)
    x = gather_tokens(x, keep)  # (B, K, D)
    prefix = [t.expand(len(x), -1, -1) for t in (vit.cls_token, vit.reg_token) if t is not None]
    if prefix:
        tokens = torch.cat(prefix, dim=1)  # (B, prefix, D)
        if n_prefix:
            tokens = tokens + vit.pos_embed[:, :n_prefix]
        x = torch.cat([tokens, x], dim=1)  # (B, prefix + K, D)
    x = vit.norm_pre(vit.pos_drop(x))
    return vit.norm(vit.blocks(x))


class MAEDecoder(nn.Module):
    """A light transformer decoder: encoded visible tokens plus mask tokens, in grid order with
    fixed sin-cos positions, through a few blocks to the pixels of every patch."""

    def __init__(
        self,
        encoder_dim: int,
        num_patches: int,
        patch_dim: int,
        num_prefix: int = 1,
        dim: int = 128,
        depth: int = 2,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        grid = math.isqrt(num_patches)
        self.num_prefix = num_prefix
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        pos = torch.cat([torch.zeros(num_prefix, dim), sincos_pos_embed(dim, grid)])  # (1+N, D)
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=False)
        blocks = [Block(dim, num_heads, qkv_bias=True) for _ in range(depth)]
        self.blocks = fused_attention(nn.Sequential(*blocks))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, patch_dim)

    def forward(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        """Encoder output (B, prefix + K, De) and the `restore` permutation (B, N) -> predicted
        patches (B, N, patch_dim)."""
        x = self.embed(latent)  # (B, prefix + K, D)
        prefix, visible = x[:, : self.num_prefix], x[:, self.num_prefix :]
        b, n = restore.shape
        masked = self.mask_token.expand(b, n - visible.shape[1], -1)  # (B, N - K, D)
        patches = gather_tokens(torch.cat([visible, masked], dim=1), restore)  # (B, N, D)
        x = torch.cat([prefix, patches], dim=1) + self.pos_embed  # (B, prefix + N, D)
        x = self.norm(self.blocks(x))
        return self.pred(x[:, self.num_prefix :])  # (B, N, patch_dim)


class MAE(PretextTask):
    """Masked autoencoder (He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners",
    arXiv:2111.06377).

    A random 75% of each image's patches is dropped; the ViT backbone encodes only the visible
    rest (its own patch embedding, fixed sin-cos positions, blocks and norm), a light decoder
    fills in mask tokens and predicts every patch's pixels, and the loss is the MSE on masked
    patches against per-patch normalised pixels (`norm_pix_loss`). Paper defaults: mask ratio
    0.75, weight decay 0.05 (its AdamW betas and learning rate are the optim group's business).
    The decoder is smaller than the paper's (512 wide, 8 deep, 16 heads, for 196 patches):
    128 wide, 2 deep, 4 heads, because the encoder here is a 192-d ViT-Tiny on 16-144 patches,
    a wider decoder than encoder would only add cost, and the paper's ablation (Table 1a-b)
    finds fine-tuning accuracy within 0.1 point with a 1-block or a 128-wide decoder.
    """

    name = "mae"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        mask_ratio: Annotated[float, Range(gt=0, lt=1)] = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = True,
        weight_decay: WeightDecay = 0.05,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        vit = vision_transformer(backbone)
        self.patch_size = vit.patch_embed.patch_size[0]
        self.num_patches = vit.patch_embed.num_patches
        self.num_keep = num_visible(self.num_patches, mask_ratio)
        self.norm_pix_loss = norm_pix_loss
        fix_sincos_pos_embed(vit)
        patch_dim = self.patch_size**2 * vit.patch_embed.proj.in_channels
        self.decoder = MAEDecoder(
            vit.embed_dim,
            self.num_patches,
            patch_dim,
            vit.num_prefix_tokens,
            decoder_dim,
            decoder_depth,
            decoder_heads,
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted patches (B, N, p*p*C) and the mask (B, N), 1 where a patch was hidden."""
        keep, mask, restore = random_masking(
            len(images), self.num_patches, self.num_keep, images.device
        )
        latent = encode_visible(self.backbone.model, images, keep)  # (B, prefix + K, D)
        return self.decoder(latent, restore), mask

    @in_float32
    def loss(self, images: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = patchify(images, self.patch_size)  # (B, N, p*p*C)
        if self.norm_pix_loss:
            target = normalize_patches(target)
        return masked_mse(pred, target, mask)

    def step(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        pred, mask = self(x)
        loss = self.loss(x, pred, mask)
        self.log_terms(stage, len(x), loss)
        return loss
