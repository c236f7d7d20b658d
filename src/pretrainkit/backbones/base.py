"""The backbone contract: features out, a feature size, and a spec to rebuild it."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from torch import nn


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
