"""What every trainable module here shares: a backbone and an optimizer recipe from the config."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import lightning as L
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.optim import param_groups

OptimizerFactory = Callable[[Iterable[dict[str, Any]]], Optimizer]
SchedulerFactory = Callable[..., LRScheduler]
WeightDecay = Annotated[float, Range(ge=0)]  # a Range is checked before any work (validate.py)


def on_bar(stage: str) -> bool:
    """`prog_bar` for a metric logged in `stage`: validation's, never a training step's.

    Lightning turns every `prog_bar` step metric into a Python number after every training
    batch, which makes the host wait for the accelerator each step; the training loss reaches
    the bar on logging steps through `pretrainkit.callbacks.LoggedMetricsBar` instead.
    """
    return stage != "train"


class BackboneModule(L.LightningModule):
    """A LightningModule around a `Backbone`, optimised by Hydra-partial factories.

    `param_groups()` (by default: every parameter, `weight_decay` on all but biases and norm
    weights) may be overridden; a group's `lr_scale` multiplies the optimizer's learning rate.
    Tasks whose training and validation steps differ only in the metric prefix implement
    `step(batch, stage)`. The scheduler factory receives the total number
    of optimizer steps and is stepped every step. `name` is the task's config name
    (`conf/task/<name>.yaml`), recorded in exported backbones and fine-tune results;
    `modality` the kind of data it trains on (`image` or `text`).
    """

    name: str = "backbone"
    modality: str = "image"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.weight_decay = weight_decay

    def param_groups(self) -> list[dict[str, Any]]:
        return param_groups(self, self.weight_decay)

    def step(self, batch: Any, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.step(batch, "val")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.param_groups())
        for group in optimizer.param_groups:
            group["lr"] *= group.pop("lr_scale", 1.0)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(
            optimizer, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
