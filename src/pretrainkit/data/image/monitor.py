"""A small labeled set for watching representation quality while pretraining."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from pretrainkit.data.image.datasets import TensorImages
from pretrainkit.data.image.sources import ImageSource
from pretrainkit.data.splits import labeled_subset, stratified_split
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError


@dataclass(frozen=True)
class MonitorFeatures:
    """The backbone's features of the monitor set at one training step (no gradients).

    Labels are -1 throughout when the set is unlabeled.
    """

    bank: torch.Tensor  # (N, D)
    bank_labels: torch.Tensor  # (N,)
    queries: torch.Tensor  # (Q, D)
    query_labels: torch.Tensor  # (Q,)
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def all(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Bank and queries together: (N + Q, D) features and (N + Q,) labels."""
        return (
            torch.cat([self.bank, self.queries]),
            torch.cat([self.bank_labels, self.query_labels]),
        )


class MonitorSet:
    """A bank and held-out queries, both drawn (stratified, seeded) from the source's labeled
    *train* split, so monitoring never looks at test images.

    Every monitor callback reads `features()`, which embeds the set once per training step
    and caches the result, so k-NN, probe, health and plot share one pass.

    Args:
        source: a source with labels (`labeled("train")`).
        transform: the deterministic evaluation transform.
        max_images: at most this many images in all (bank + queries).
        query_fraction: share of them used as queries.
        labeled: False draws from the unlabeled pool instead (labels -1), for monitors that
            need no labels (health) on folders without class subfolders.
    """

    def __init__(
        self,
        source: ImageSource,
        transform: Callable[[Any], Any],
        max_images: int = 5000,
        query_fraction: float = 0.2,
        seed: int = 0,
        batch_size: int = 512,
        labeled: bool = True,
    ) -> None:
        if not 0 < query_fraction < 1:
            raise BadValueError(f"monitor query_fraction={query_fraction} must be in (0, 1).")
        self.source, self.transform = source, transform
        self.max_images, self.query_fraction = max_images, query_fraction
        self.seed, self.batch_size, self.labeled = seed, batch_size, labeled
        self.bank: Transformed | None = None
        self.queries: Transformed | None = None
        self._cached: tuple[Hashable, MonitorFeatures] | None = None

    def setup(self) -> None:
        if self.bank is not None:
            return
        train = self.source.labeled("train") if self.labeled else self.source.unlabeled()
        fraction = min(1.0, self.max_images / len(train))
        chosen = labeled_subset(train.targets, self.seed, fraction=fraction)
        bank, queries = stratified_split(train.targets[chosen], self.query_fraction, self.seed)
        cache = isinstance(train, TensorImages)  # evaluated once, reused every epoch
        self.bank = Transformed(train, self.transform, chosen[bank], cache=cache)
        self.queries = Transformed(train, self.transform, chosen[queries], cache=cache)

    def targets(self, part: Transformed) -> np.ndarray:
        return part.dataset.targets[part.indices]  # type: ignore[attr-defined]

    def loader(self, part: Transformed) -> DataLoader:
        # Its own generator: starting a DataLoader draws a seed, which must not come from the
        # global RNG, or turning a monitor on would change the training run it watches.
        return DataLoader(
            part, batch_size=self.batch_size, shuffle=False, generator=torch.Generator()
        )

    @torch.no_grad()
    def _embed(self, backbone: nn.Module, part: Transformed, device: torch.device) -> torch.Tensor:
        return torch.cat([backbone(x.to(device)).float() for x, _ in self.loader(part)])

    def features(self, backbone: nn.Module, device: torch.device, key: Hashable) -> MonitorFeatures:
        """Bank and query features from `backbone` in eval mode; recomputed only when `key`
        (the training step) changes. The backbone's train/eval flag is restored."""
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        self.setup()
        assert self.bank is not None and self.queries is not None
        was_training = backbone.training
        backbone.eval()
        try:
            bank = self._embed(backbone, self.bank, device)
            queries = self._embed(backbone, self.queries, device)
        finally:
            backbone.train(was_training)
        labels = [
            torch.as_tensor(self.targets(p), device=device) for p in (self.bank, self.queries)
        ]
        classes = list(self.source.classes) if self.labeled else []
        features = MonitorFeatures(bank, labels[0], queries, labels[1], classes)
        self._cached = (key, features)
        return features
