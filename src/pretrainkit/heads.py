"""Small MLP heads: one builder, thin named uses of it."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(
    in_dim: int, hidden_dims: Sequence[int], out_dim: int, batch_norm: bool = True
) -> nn.Sequential:
    """Linear(-BN)-ReLU blocks for each hidden width, then a plain Linear to `out_dim`."""
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width, bias=not batch_norm)]
        layers += [nn.BatchNorm1d(width)] if batch_norm else []
        layers += [nn.ReLU(inplace=True)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def projection_head(in_dim: int, hidden_dim: int = 512, out_dim: int = 128) -> nn.Sequential:
    """SimCLR's 2-layer projector g(·): the loss is taken on its output, features before it."""
    return mlp(in_dim, [hidden_dim], out_dim)
