"""VIME's self-supervised task: from a row with random features corrupted, tell which features
were corrupted and reconstruct the original row."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.heads import mlp
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


class VIME(PretextTask):
    """VIME-self (Yoon, Zhang, Jordon, van der Schaar, 2020, "VIME: Extending the Success of
    Self- and Semi-supervised Learning to Tabular Domain", NeurIPS).

    Each feature of a row is corrupted with probability `augment.mask_prob` (a draw from that
    feature's empirical marginal: `pretrainkit.data.tabular.corrupt`); the backbone reads the
    corrupted row, a mask estimator predicts which features were replaced (binary
    cross-entropy), a feature estimator the original values: squared error for numeric
    features, cross-entropy over the codes for categorical ones (the paper's per-type losses).
    The loss is mask + `alpha` x reconstruction, each averaged over features. Paper defaults:
    mask probability 0.3, alpha 2.
    """

    name = "vime"
    modality = "tabular"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        head_hidden_dim: Annotated[int, Range(ge=1)] = 256,
        alpha: Annotated[float, Range(ge=0)] = 2.0,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        spec = backbone.spec
        if "num_numeric" not in spec or "cardinalities" not in spec:
            raise BadValueError(
                f"task=vime reconstructs table columns; {type(backbone).__name__} is not a "
                "tabular backbone (use backbone=mlp or backbone=ft_transformer)."
            )
        self.num_numeric = int(spec["num_numeric"])
        self.cardinalities = [int(c) for c in spec["cardinalities"]]
        features = self.num_numeric + len(self.cardinalities)
        width = backbone.feature_dim
        self.mask_head = mlp(width, [head_hidden_dim], features)
        self.feature_head = mlp(
            width, [head_hidden_dim], self.num_numeric + sum(self.cardinalities)
        )
        self.alpha = alpha

    def reconstruction(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-feature reconstruction loss of the original rows `x`, averaged over features."""
        n = self.num_numeric
        total = F.mse_loss(logits[:, :n], x[:, :n], reduction="sum") / len(x) if n else 0.0
        start = n
        for j, cardinality in enumerate(self.cardinalities):
            target = x[:, n + j].long()
            total = total + F.cross_entropy(logits[:, start : start + cardinality], target)
            start += cardinality
        return total / (n + len(self.cardinalities))  # type: ignore[return-value]

    def step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        x, corrupted, mask = batch["x"], batch["corrupted"], batch["mask"]
        features = self.backbone(corrupted)
        mask_logits = self.mask_head(features)
        mask_loss = F.binary_cross_entropy_with_logits(mask_logits, mask)
        recon_loss = self.reconstruction(self.feature_head(features), x)
        loss = mask_loss + self.alpha * recon_loss
        with torch.no_grad():
            mask_acc = ((mask_logits > 0).float() == mask).float().mean()
        terms = {"mask_loss": mask_loss, "recon_loss": recon_loss, "mask_acc": mask_acc}
        self.log_terms(stage, len(x), loss, terms)
        return loss
