"""Patch-level pieces of masked image modelling: patchify, random masking, sin-cos positions."""

from __future__ import annotations

import math

import torch


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Images (B, C, H, W) -> patches (B, N, p*p*C), row-major over the grid as a ViT's
    patch embedding orders them; each patch flattened (row, column, channel) as in MAE."""
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not divisible by patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, gh, p, gw, p)
    x = torch.einsum("bchpwq->bhwpqc", x)  # (B, gh, gw, p, p, C)
    return x.reshape(b, (h // p) * (w // p), p * p * c)  # (B, N, p*p*C)


def unpatchify(patches: torch.Tensor, patch_size: int, in_chans: int) -> torch.Tensor:
    """The inverse of `patchify` for square images: (B, N, p*p*C) -> (B, C, H, W)."""
    b, n, _ = patches.shape
    p, g = patch_size, math.isqrt(n)
    if g * g != n:
        raise ValueError(f"{n} patches do not form a square grid")
    x = patches.reshape(b, g, g, p, p, in_chans)  # (B, gh, gw, p, p, C)
    x = torch.einsum("bhwpqc->bchpwq", x)  # (B, C, gh, p, gw, p)
    return x.reshape(b, in_chans, g * p, g * p)


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """How many of `num_patches` stay visible: the paper's int(N * (1 - ratio)), with a margin
    so float error cannot drop one (10 * (1 - 0.9) is 0.999...)."""
    if not 0 < mask_ratio < 1:
        raise ValueError(f"mask_ratio={mask_ratio} must be in (0, 1), e.g. the paper's 0.75")
    keep = int(num_patches * (1 - mask_ratio) + 1e-6)
    if keep < 1:
        raise ValueError(
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


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Tokens (B, N, D) at `index` (B, K) -> (B, K, D)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def sincos_pos_embed(dim: int, grid_size: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings of a square grid, (grid_size**2, dim): half the
    channels encode the row, half the column, as in MAE (and "Attention Is All You Need")."""
    if dim % 4:
        raise ValueError(f"sin-cos position embeddings need dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))  # (D/4,)
    coords = torch.arange(grid_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (g, g) each

    def embed(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega  # (g*g, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (g*g, D/2)

    # MAE's get_2d_sincos_pos_embed puts the width (column) half first.
    return torch.cat([embed(cols), embed(rows)], dim=1).float()  # (g*g, D)
