"""A small CNN sized for 8x8 to 32x32 grayscale or colour images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pretrainkit.backbones.base import Backbone


def _conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(Backbone):
    """Conv-BN-ReLU stages (stride 2 between stages) and global average pooling.

    With the default widths an 8x8 digit is seen at 8x8, 4x4 and 2x2: enough depth to learn
    strokes without pooling the image away.
    """

    def __init__(self, in_chans: int = 1, widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__(in_chans=in_chans, widths=list(widths))
        stages, c = [], in_chans
        for i, width in enumerate(widths):
            stages += [
                _conv_block(c, width, stride=1 if i == 0 else 2),
                _conv_block(width, width, 1),
            ]
            c = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)  # (B, C)
