"""A timm ViT's patches: (un)patchify in its token order, fixed 2-D sin-cos positions, and its
own modules run on a subset of the patches (what masked image modelling needs)."""

from __future__ import annotations

import math

import torch
from timm.models.vision_transformer import VisionTransformer

from pretrainkit.errors import BadValueError


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Images (B, C, H, W) -> patches (B, N, p*p*C), row-major over the grid as a ViT's
    patch embedding orders them; each patch flattened (row, column, channel) as in MAE."""
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise BadValueError(f"image size {h}x{w} is not divisible by patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, gh, p, gw, p)
    x = torch.einsum("bchpwq->bhwpqc", x)  # (B, gh, gw, p, p, C)
    return x.reshape(b, (h // p) * (w // p), p * p * c)  # (B, N, p*p*C)


def unpatchify(
    patches: torch.Tensor, patch_size: int, in_chans: int, grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """The inverse of `patchify`: (B, N, p*p*C) -> (B, C, gh*p, gw*p), on the (rows, columns)
    `grid` of patches (a spectrogram's is not square); None: a square grid."""
    b, n, _ = patches.shape
    p = patch_size
    if grid is None:
        g = math.isqrt(n)
        if g * g != n:
            raise BadValueError(f"{n} patches do not form a square grid; give the grid's shape")
        grid = (g, g)
    gh, gw = grid
    if gh * gw != n:
        raise BadValueError(f"{n} patches do not fill a {gh}x{gw} grid")
    x = patches.reshape(b, gh, gw, p, p, in_chans)  # (B, gh, gw, p, p, C)
    x = torch.einsum("bhwpqc->bchpwq", x)  # (B, C, gh, p, gw, p)
    return x.reshape(b, in_chans, gh * p, gw * p)


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Tokens (B, N, D) at `index` (B, K) -> (B, K, D)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def sincos_pos_embed(dim: int, grid_size: int | tuple[int, int]) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings of a grid of (rows, columns) patches (an int:
    square), (rows * columns, dim) in row-major order: half the channels encode the row, half
    the column, as in MAE (and "Attention Is All You Need"); Audio-MAE's grids are rectangular."""
    if dim % 4:
        raise BadValueError(f"sin-cos position embeddings need dim divisible by 4, got {dim}")
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))  # (D/4,)
    rows, cols = torch.meshgrid(
        torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64), indexing="ij"
    )  # (gh, gw) each

    def embed(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega  # (gh*gw, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (gh*gw, D/2)

    # MAE's get_2d_sincos_pos_embed puts the width (column) half first.
    return torch.cat([embed(cols), embed(rows)], dim=1).float()  # (gh*gw, D)


def fix_sincos_pos_embed(vit: VisionTransformer) -> None:
    """Set the ViT's position embeddings to fixed 2-D sin-cos (zero for prefix tokens), as the
    MAE encoder has; fine-tuning starts from them and may train them."""
    n_prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
    grid = tuple(vit.patch_embed.grid_size)  # (rows, columns)
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
