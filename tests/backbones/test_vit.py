"""A ViT's patches: patchify is the inverse of unpatchify and orders patches as the ViT's own
patch embedding orders its tokens."""

from __future__ import annotations

import pytest
import torch

from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.backbones.vit import patchify, unpatchify


@pytest.mark.parametrize(("size", "patch", "chans"), [(8, 2, 1), (28, 4, 1), (8, 2, 3), (32, 4, 3)])
def test_patchify_round_trip_in_the_vit_token_order(size: int, patch: int, chans: int):
    x = torch.randn(2, chans, size, size)
    patches = patchify(x, patch)  # (B, N, p*p*C)
    grid = size // patch
    assert patches.shape == (2, grid * grid, patch * patch * chans)
    assert torch.equal(unpatchify(patches, patch, chans), x)
    # Patch k is the ViT's token k: the patch embedding is a linear map of exactly these pixels.
    vit = TimmBackbone(
        "vit_tiny_patch16_224", chans, size, model_kwargs={"patch_size": patch, "depth": 1}
    )
    embed = vit.model.patch_embed
    weight = embed.proj.weight.permute(0, 2, 3, 1).flatten(1)  # (D, p*p*C), (row, col, chan)
    expected = patches @ weight.T + embed.proj.bias  # (B, N, D)
    torch.testing.assert_close(embed(x), expected, atol=1e-5, rtol=1e-4)
