"""What an evaluation protocol returns, and how it chooses its hyper-parameters: on the
validation split only; the test split is scored once, for the chosen setting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

Split = tuple[torch.Tensor, torch.Tensor]  # (N, D) features, (N,) class indices


@dataclass
class Outcome:
    """One protocol on one labeled training set: the setting chosen on validation, its
    validation and test accuracy, and every setting tried (validation metrics only)."""

    protocol: str
    chosen: dict[str, Any]
    val_acc: float
    test_acc: float
    tried: list[dict[str, Any]] = field(default_factory=list)


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    return (pred == target.to(pred.device)).float().mean().item()


def best_on_val(tried: list[dict[str, Any]]) -> dict[str, Any]:
    """The setting with the highest `val_acc`; ties go to the lower `val_loss` where there is
    one, then to the earlier setting in `tried`. A NaN accuracy (a diverged probe) ranks last."""

    def rank(item: tuple[int, dict[str, Any]]) -> tuple[float, float, int]:
        i, t = item
        acc = t["val_acc"] if math.isfinite(t["val_acc"]) else -1.0
        loss = t.get("val_loss", 0.0)
        return acc, -loss if math.isfinite(loss) else -math.inf, -i

    return max(enumerate(tried), key=rank)[1]
