"""timm models as backbones, with a stem that keeps small images' resolution."""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

from pretrainkit.backbones.base import Backbone, Layers, layers_around
from pretrainkit.errors import BadValueError

SMALL_IMAGE_MAX = 64  # at or below this size the ResNet stem would throw most pixels away


def fused_attention(module: nn.Module) -> nn.Module:
    """Every timm attention layer in `module` on its `F.scaled_dot_product_attention` path
    (flash or memory-efficient kernels on a GPU): timm picks it at build time from the torch
    version and TIMM_FUSED_ATTN, and falls back to an explicit softmax(QKᵀ)V, which
    computes the same with a (B, heads, N, N) matrix in memory."""
    for layer in module.modules():
        if hasattr(layer, "fused_attn"):
            layer.fused_attn = True
    return module


class TimmBackbone(Backbone):
    """Any timm model with its classifier removed (`num_classes=0`).

    Args:
        name: timm model name, e.g. `resnet18`, `resnet50`, `vit_tiny_patch16_224`.
        in_chans: input channels (1 for grayscale).
        image_size: input size; ViTs are built for it, small ResNets get a small stem.
        small_stem: replace a ResNet's 7x7/2 conv + max-pool with a 3x3/1 conv (as for CIFAR
            in the SimCLR paper); `None` turns it on for images up to 64 px.
        model_kwargs: passed to `timm.create_model` (e.g. `patch_size` for ViTs).
    """

    def __init__(
        self,
        name: str = "resnet18",
        in_chans: int = 3,
        image_size: int = 32,
        small_stem: bool | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            name=name,
            in_chans=in_chans,
            image_size=image_size,
            small_stem=small_stem,
            model_kwargs=dict(model_kwargs or {}),
        )
        kwargs = dict(model_kwargs or {})
        if name.startswith(("vit", "deit")):
            kwargs.setdefault("img_size", image_size)
        # pretrained=False: weights come from pretext training, never from a download.
        self.model = fused_attention(
            timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **kwargs)
        )
        patch = getattr(getattr(self.model, "patch_embed", None), "patch_size", None)
        if patch is not None and image_size % patch[0]:
            # timm would silently drop the pixels past the last whole patch.
            raise BadValueError(
                f"backbone {name}: image size {image_size} is not divisible by patch size "
                f"{patch[0]}. Set dataset.patch_size to a divisor of {image_size}, or "
                f"dataset.image_size to a multiple of {patch[0]}."
            )
        small = image_size <= SMALL_IMAGE_MAX if small_stem is None else small_stem
        if small and hasattr(self.model, "conv1") and hasattr(self.model, "maxpool"):
            width = self.model.conv1.out_channels
            self.model.conv1 = nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False)
            self.model.maxpool = nn.Identity()
        self.feature_dim = self.model.num_features

    def layers(self) -> Layers | None:
        """A ViT's: patch embedding, class token and positions at depth 0, block i at i + 1,
        the final norm above them. None for models without one stack of `blocks` (ResNets)."""
        blocks = getattr(self.model, "blocks", None)
        if not isinstance(blocks, (nn.Sequential, nn.ModuleList)):
            return None
        return layers_around(self, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, feature_dim)
