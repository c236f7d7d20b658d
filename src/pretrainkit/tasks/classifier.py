"""The fine-tuning stage: a linear head on a (frozen or trainable) backbone."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.tasks.base import (
    BackboneModule,
    OptimizerFactory,
    SchedulerFactory,
    WeightDecay,
    layer_decay_groups,
    param_groups,
)


class Classifier(BackboneModule):
    """Backbone + linear head, trained with cross-entropy on labeled images.

    Args:
        freeze_backbone: linear probe: the backbone gets no gradients and stays in eval mode
            (BatchNorm statistics fixed), as in the linear-evaluation protocol.
        backbone_lr_scale: a pretrained backbone trains at this multiple of the head's learning
            rate when unfrozen; a from-scratch backbone (`pretrained=False`) trains at the
            head's rate, since a lower rate would only handicap the baseline.
        pretrained: whether the backbone's weights come from pretraining.
        head_batchnorm: standardise features with a BatchNorm without affine parameters before
            the linear layer (as MAE's linear probe does): the probe then does not depend on
            the feature scale, which differs wildly between backbones (and random ones). It is
            still a linear classifier: at test time the normalisation is a fixed affine map.
        layer_decay: layer-wise learning-rate decay of an unfrozen pretrained backbone
            (`layer_decay_groups`): its top block at `layer_decay` x its rate, each block below
            at one more factor, the embeddings at `layer_decay ** (blocks + 1)`; its rate is
            still `backbone_lr_scale` x the head's. `None`: one rate for the whole backbone. A
            from-scratch backbone ignores it, as it ignores `backbone_lr_scale`; a backbone
            that cannot say which layer a parameter is in (CNNs, ResNets) refuses it.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        freeze_backbone: bool = True,
        backbone_lr_scale: Annotated[
            float, Range(gt=0, example="0.1 (or freeze_backbone=true to freeze)")
        ] = 0.1,
        weight_decay: WeightDecay = 1e-4,
        label_smoothing: Annotated[float, Range(ge=0, le=1)] = 0.0,
        pretrained: bool = True,
        head_batchnorm: bool = True,
        layer_decay: Annotated[float, Range(gt=0, le=1, example="0.75 (or null)")] | None = None,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        if layer_decay is not None and backbone.layers() is None:
            name = backbone.spec.get("name") or type(backbone).__name__
            raise BadValueError(
                f"model.layer_decay={layer_decay}: the backbone ({name}) cannot say which layer a "
                "parameter is in; use a Transformer (bert_*, gpt_small, vit_tiny) or "
                "model.layer_decay=null."
            )
        linear = nn.Linear(backbone.feature_dim, num_classes)
        norm = nn.Identity()
        if head_batchnorm:
            # A random backbone's features can have variances near 1e-9: a small eps keeps the
            # standardisation, and on frozen (stationary) features an exact running average
            # (momentum=None) does not lag behind from its initial variance of 1.
            momentum = None if freeze_backbone else 0.1
            norm = nn.BatchNorm1d(backbone.feature_dim, affine=False, eps=1e-10, momentum=momentum)
        self.head = nn.Sequential(norm, linear)
        self.freeze_backbone = freeze_backbone
        # inputs are the frozen backbone's cached features (a linear probe on FeatureDataModule)
        self.on_features = False
        self.backbone_lr_scale = backbone_lr_scale if pretrained else 1.0
        self.layer_decay = layer_decay if pretrained else None
        self.label_smoothing = label_smoothing
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "f1": MulticlassF1Score(num_classes, average="macro"),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def unfreeze(self) -> None:
        """Train the backbone too from now on, keeping the head (LP-FT's second stage)."""
        self.freeze_backbone = False
        self.on_features = False
        self.backbone.requires_grad_(True).train()  # the probe kept it in eval mode
        norm = self.head[0]
        if isinstance(norm, nn.BatchNorm1d):  # features now move: a running, not exact, average
            norm.momentum = 0.1

    def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
        # Lightning restores each submodule's captured train/eval flag around validation, so
        # overriding train() is not enough: a linear probe must never update BN statistics.
        if self.freeze_backbone:
            self.backbone.eval()

    def param_groups(self) -> list[dict]:
        groups = param_groups(self.head, self.weight_decay)
        if self.freeze_backbone:
            return groups
        if self.layer_decay is None:
            return groups + param_groups(self.backbone, self.weight_decay, self.backbone_lr_scale)
        return groups + layer_decay_groups(
            self.backbone, self.weight_decay, self.layer_decay, self.backbone_lr_scale
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.on_features:
            return self.head(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            features = self.backbone(x)  # (B, feature_dim)
        return self.head(features)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == y).float().mean()
        self.log_dict(
            {"train/loss": loss, "train/acc": acc}, on_step=False, on_epoch=True, batch_size=len(y)
        )
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_metrics.update(logits, y)
        self.log("val/loss", F.cross_entropy(logits, y), sync_dist=True, batch_size=len(y))
        self.log_dict(self.val_metrics, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_metrics.update(self(x), y)
        self.log_dict(self.test_metrics)
