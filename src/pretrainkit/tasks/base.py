"""What every trainable module here shares: a backbone and an optimizer recipe from the config."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from pretrainkit.backbones.base import Backbone

OptimizerFactory = Callable[[Iterable[dict[str, Any]]], Optimizer]
SchedulerFactory = Callable[..., LRScheduler]


class BackboneModule(L.LightningModule):
    """A LightningModule around a `Backbone`, optimised by Hydra-partial factories.

    Subclasses return their parameter groups from `param_groups()`; a group's `lr_scale`
    multiplies the optimizer's learning rate. The scheduler factory receives the total number
    of optimizer steps and is stepped every step. `name` is the task's config name
    (`conf/task/<name>.yaml`), recorded in exported backbones and fine-tune results.
    """

    name: str = "backbone"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def param_groups(self) -> list[dict[str, Any]]:
        raise NotImplementedError

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
