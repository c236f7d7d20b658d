"""Small MLP heads: one builder, thin named uses of it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def mlp(
    in_dim: int,
    hidden_dims: Sequence[int],
    out_dim: int,
    batch_norm: bool = True,
    last_bn: bool = False,
) -> nn.Sequential:
    """Linear(-BN)-ReLU blocks for each hidden width, then a plain Linear to `out_dim`; with
    `last_bn`, that Linear has no bias and a BatchNorm without affine parameters follows it
    (SimCLR v2's and MoCo v3's output layer)."""
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width, bias=not batch_norm)]
        layers += [nn.BatchNorm1d(width)] if batch_norm else []
        layers += [nn.ReLU(inplace=True)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim, bias=not last_bn))
    layers += [nn.BatchNorm1d(out_dim, affine=False)] if last_bn else []
    return nn.Sequential(*layers)


def projection_head(in_dim: int, hidden_dim: int = 512, out_dim: int = 128) -> nn.Sequential:
    """SimCLR's 2-layer projector g(·): the loss is taken on its output, features before it."""
    return mlp(in_dim, [hidden_dim], out_dim)


class DINOHead(nn.Module):
    """DINO's head (Caron et al., 2021, arXiv:2104.14294): a 3-layer MLP (GELU; BatchNorm after
    the hidden layers with `batch_norm`, the reference code's `use_bn_in_head`) to a
    `bottleneck_dim` code, ℓ2-normalised, then a weight-normalised linear layer without bias to
    `out_dim` (`last_layer`). Its rows are kept at unit norm — weight normalisation with the
    gain fixed at 1, the paper's `norm_last_layer` — so the outputs are cosines."""

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        out_dim: int = 65536,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in (hidden_dim, hidden_dim):
            layers += [nn.Linear(in_dim, width)]
            layers += [nn.BatchNorm1d(width)] if batch_norm else []
            layers += [nn.GELU()]
            in_dim = width
        self.mlp = nn.Sequential(*layers, nn.Linear(in_dim, bottleneck_dim))
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):  # the reference implementation's initialisation
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_layer = nn.Linear(bottleneck_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.mlp(x), dim=-1)  # (B, bottleneck_dim)
        return F.linear(z, F.normalize(self.last_layer.weight, dim=-1))  # (B, out_dim)
