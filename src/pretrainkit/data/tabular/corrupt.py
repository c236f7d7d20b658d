"""Corrupting rows with draws from each feature's empirical marginal: what SCARF (Bahri et al.,
2022) and VIME (Yoon et al., 2020) train on. A corrupted feature takes that feature's value in
a uniformly drawn training row, so it stays a plausible value of its column (a category stays
a category) but says nothing about its own row."""

from __future__ import annotations

from typing import Annotated, Literal

import torch

from pretrainkit.config.values import Range


class MarginalCorruption:
    """Row (F,) -> {"x": the row, "corrupted": it with some features replaced by marginal
    draws, "mask": (F,) float, 1 where a feature was replaced}.

    Args:
        rate: share of features replaced.
        mode: `subset`, exactly round(rate x F) features (at least one), chosen uniformly (SCARF);
            `bernoulli`, each feature independently with probability `rate` (VIME).

    The training rows to draw from are bound by the data module (`bind`); the random draws
    come from torch's generator, which the loader seeds per row (resumable, worker-independent).
    """

    def __init__(
        self,
        rate: Annotated[float, Range(gt=0, le=1, example="0.6")] = 0.6,
        mode: Literal["subset", "bernoulli"] = "subset",
    ) -> None:
        self.rate, self.mode = rate, mode
        self.rows: torch.Tensor | None = None

    def bind(self, rows: torch.Tensor) -> MarginalCorruption:
        """Draw from these (N, F) training rows."""
        if len(rows) == 0:
            raise ValueError("MarginalCorruption.bind: no rows to draw from")
        self.rows = rows
        return self

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        assert self.rows is not None, "bind() the training rows first"
        features = x.shape[-1]
        if self.mode == "subset":
            k = min(features, max(1, round(self.rate * features)))
            mask = torch.zeros(features, dtype=torch.bool)
            mask[torch.randperm(features)[:k]] = True
        else:
            mask = torch.rand(features) < self.rate
        draws = self.rows[torch.randint(len(self.rows), (features,)), torch.arange(features)]
        return {"x": x, "corrupted": torch.where(mask, draws, x), "mask": mask.float()}
