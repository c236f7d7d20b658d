"""The backbone contract: features out, a feature size, and a spec to rebuild it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from omegaconf import OmegaConf
from torch import nn


class Layers(NamedTuple):
    """Which layer each parameter of a backbone is in, for layer-wise learning-rate decay.

    `depth` maps a parameter's name to 0 (the embeddings, or a stem: what the first block
    reads), `i + 1` (the i-th of `blocks` blocks), or `blocks + 1` (what reads the last block,
    such as a final norm: where a head sits)."""

    depth: dict[str, int]
    blocks: int


class Backbone(nn.Module):
    """A module mapping images (B, C, H, W) to features (B, feature_dim).

    Subclasses call `super().__init__(**their_init_kwargs)` so `spec` can rebuild them: the
    spec is what an exported backbone carries, so fine-tuning needs no pretrain config.
    `modality` is the kind of data it reads (`image` or `text`), as a task's is.
    """

    feature_dim: int
    modality: str = "image"

    def __init__(self, **init_kwargs: Any) -> None:
        super().__init__()
        cls = type(self)
        plain = OmegaConf.to_container(
            OmegaConf.create(init_kwargs), resolve=True
        )  # no DictConfig inside
        self.spec: dict[str, Any] = {"_target_": f"{cls.__module__}.{cls.__qualname__}", **plain}  # type: ignore[dict-item]

    def layers(self) -> Layers | None:
        """Each parameter's layer (`Layers`), or None where this backbone cannot say: then
        layer-wise learning-rate decay refuses it."""
        return None


def layers_around(module: nn.Module, blocks: Sequence[nn.Module]) -> Layers:
    """`Layers` of `module` built around its stack of `blocks`: a parameter of block i is at
    depth i + 1; any other one at 0 if `module` registers it before the blocks (embeddings,
    a ViT's class token and patch embedding), at len(blocks) + 1 if after (a final norm)."""
    in_block = {id(p): i + 1 for i, block in enumerate(blocks) for p in block.parameters()}
    depth: dict[str, int] = {}
    above = False
    for name, param in module.named_parameters():
        if id(param) in in_block:
            depth[name], above = in_block[id(param)], True
        else:
            depth[name] = len(blocks) + 1 if above else 0
    return Layers(depth, len(blocks))
