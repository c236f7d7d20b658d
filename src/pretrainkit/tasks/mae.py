"""MAE: mask most patches of an image, reconstruct their pixels from the visible rest."""

from __future__ import annotations

from typing import Annotated

import torch
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.backbones.timm import fused_attention
from pretrainkit.backbones.vit import (
    encode_visible,
    fix_sincos_pos_embed,
    gather_tokens,
    patchify,
    sincos_pos_embed,
)
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.losses.masked_mse import masked_mse, normalize_patches
from pretrainkit.losses.precision import in_float32
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """How many of `num_patches` stay visible: the paper's int(N * (1 - ratio)), with a margin
    so float error cannot drop one (10 * (1 - 0.9) is 0.999...)."""
    if not 0 < mask_ratio < 1:
        raise BadValueError(f"mask_ratio={mask_ratio} must be in (0, 1), e.g. the paper's 0.75")
    keep = int(num_patches * (1 - mask_ratio) + 1e-6)
    if keep < 1:
        raise BadValueError(
            f"mask_ratio={mask_ratio} leaves no visible patch of {num_patches}; lower it or use "
            "a smaller patch size (dataset.patch_size)"
        )
    return keep


def random_masking(
    batch_size: int, num_patches: int, num_keep: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An independent uniform random subset of `num_keep` visible patches per image.

    Returns:
        keep: indices of the visible patches, (B, num_keep).
        mask: 1 at masked patches, 0 at visible ones, in the original order, (B, N).
        restore: the permutation that puts [visible, masked] tokens back in order, (B, N).
    """
    noise = torch.rand(batch_size, num_patches, device=device)  # (B, N)
    shuffle = noise.argsort(dim=1)  # a random permutation per image; its head is kept
    restore = shuffle.argsort(dim=1)
    mask = torch.ones(batch_size, num_patches, device=device)
    mask[:, :num_keep] = 0
    return shuffle[:, :num_keep], mask.gather(1, restore), restore


def vision_transformer(
    backbone: Backbone, task: str = "mae", fix: str = "backbone=vit_tiny"
) -> VisionTransformer:
    """The timm ViT inside `backbone`, or a ValueError that says how to get one."""
    model = getattr(backbone, "model", None)
    if not isinstance(model, VisionTransformer) or model.pos_embed is None:
        name = type(backbone).__name__
        if "name" in backbone.spec:
            name += f"({backbone.spec['name']})"
        raise BadValueError(
            f"task={task} masks the patches of a ViT, but the backbone is {name}. Use {fix}."
        )
    return model


class MAEDecoder(nn.Module):
    """A light transformer decoder: encoded visible tokens plus mask tokens, in grid order with
    fixed sin-cos positions on the (rows, columns) `grid`, through a few blocks to the pixels
    of every patch."""

    def __init__(
        self,
        encoder_dim: int,
        grid: tuple[int, int],
        patch_dim: int,
        num_prefix: int = 1,
        dim: int = 128,
        depth: int = 2,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
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
    backbone_hint = "backbone=vit_tiny"  # named when the backbone is not a ViT

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
        vit = vision_transformer(backbone, self.name, self.backbone_hint)
        self.patch_size = vit.patch_embed.patch_size[0]
        self.num_patches = vit.patch_embed.num_patches
        self.num_keep = num_visible(self.num_patches, mask_ratio)
        self.norm_pix_loss = norm_pix_loss
        fix_sincos_pos_embed(vit)
        patch_dim = self.patch_size**2 * vit.patch_embed.proj.in_channels
        self.decoder = MAEDecoder(
            vit.embed_dim,
            tuple(vit.patch_embed.grid_size),
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

    def images(self, batch: torch.Tensor) -> torch.Tensor:
        """What the ViT reads and the loss reconstructs: an image batch as it comes."""
        return batch

    def step(self, batch: torch.Tensor, stage: str) -> torch.Tensor:
        x = self.images(batch)  # (B, C, H, W)
        pred, mask = self(x)
        loss = self.loss(x, pred, mask)
        self.log_terms(stage, len(x), loss)
        return loss
