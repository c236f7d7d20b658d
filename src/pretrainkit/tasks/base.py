"""What every trainable module here shares: a backbone and an optimizer recipe from the config,
and the one way a pretext task computes and logs its loss (`PretextTask.step`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import lightning as L
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError

OptimizerFactory = Callable[[Iterable[dict[str, Any]]], Optimizer]
SchedulerFactory = Callable[..., LRScheduler]
WeightDecay = Annotated[float, Range(ge=0)]  # a Range is checked before any work (validate.py)


def param_groups(
    module: nn.Module, weight_decay: float, lr_scale: float = 1.0
) -> list[dict[str, Any]]:
    """Split parameters so biases and norm weights (1-D), and whatever a submodule names in
    its `no_weight_decay()`, get no weight decay."""
    return _split(list(module.parameters()), weight_decay, lr_scale, exempt_from_decay(module))


def exempt_from_decay(module: nn.Module) -> set[int]:
    """The ids of the parameters a submodule of `module` names in its `no_weight_decay()`
    (timm's convention: names relative to that submodule, a name also covering what lies
    under it): a ViT's position embeddings and class token, a tabular backbone's feature
    embeddings (Gorishniy et al., 2021, decay neither tokenizer nor norms nor biases)."""
    ids: set[int] = set()
    for _, sub in module.named_modules():
        names = getattr(sub, "no_weight_decay", None)
        if not callable(names):
            continue
        wanted = set(names())
        for name, param in sub.named_parameters():
            if name in wanted or any(name.startswith(f"{w}.") for w in wanted):
                ids.add(id(param))
    return ids


def layer_decay_groups(
    backbone: Backbone, weight_decay: float, decay: float, lr_scale: float = 1.0
) -> list[dict[str, Any]]:
    """`param_groups` of a backbone layer by layer, for layer-wise learning-rate decay (Clark
    et al., 2020, ELECTRA; Bao et al., 2022, BEiT): of a backbone with L blocks, a parameter
    at depth j (`Backbone.layers`) trains at `lr_scale * decay ** (L + 1 - j)` times the
    run's rate, so the top block at `decay`, the embeddings at `decay ** (L + 1)`, and a final
    norm with the head (depth L + 1) at `lr_scale`."""
    layers = backbone.layers()
    if layers is None:
        raise BadValueError(f"{type(backbone).__name__} cannot say which layer a parameter is in.")
    named = list(backbone.named_parameters())
    exempt = exempt_from_decay(backbone)
    groups = []
    for depth in sorted(set(layers.depth.values())):
        params = [p for name, p in named if layers.depth[name] == depth]
        scale = lr_scale * decay ** (layers.blocks + 1 - depth)
        groups += _split(params, weight_decay, scale, exempt)
    return groups


def _split(
    params: list[nn.Parameter], weight_decay: float, lr_scale: float, exempt: set[int] = frozenset()
) -> list[dict[str, Any]]:
    """The trainable ones of `params` in two groups: with weight decay (matrices, kernels) and
    without (biases and norm weights, 1-D, and those in `exempt`); empty groups dropped."""
    params = [p for p in params if p.requires_grad]
    free = [p.ndim <= 1 or id(p) in exempt for p in params]
    decay = [p for p, f in zip(params, free, strict=True) if not f]
    no_decay = [p for p, f in zip(params, free, strict=True) if f]
    groups = [
        {"params": decay, "weight_decay": weight_decay, "lr_scale": lr_scale},
        {"params": no_decay, "weight_decay": 0.0, "lr_scale": lr_scale},
    ]
    return [g for g in groups if g["params"]]


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
    The scheduler factory receives the total number of optimizer steps and is stepped every
    step. `name` is the task's config name (`conf/task/<name>.yaml`), recorded in exported
    backbones and fine-tune results; `modality` the kind of data it trains on (`image` or
    `text`).
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


class PretextTask(BackboneModule):
    """A self-supervised task: `step(batch, stage)` returns the loss of a batch and logs it,
    with the task's other terms, through `log_terms`; training and validation differ only in
    `stage` (`train` or `val`), the metric keys' prefix."""

    def step(self, batch: Any, stage: str) -> torch.Tensor:
        """The loss of `batch`, logged (with any other terms) through `log_terms`."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.step(batch, "val")

    def log_terms(
        self,
        stage: str,
        batch_size: int,
        loss: torch.Tensor,
        terms: Mapping[str, torch.Tensor] | None = None,
        terms_on_bar: bool = False,
    ) -> None:
        """Log `stage/loss` and each term as `stage/<name>`: every training step and as epoch
        means, validation's reduced over ranks. The loss (and, with `terms_on_bar`, the terms)
        shows on the progress bar in validation only (see `on_bar`)."""
        kwargs = {"on_epoch": True, "sync_dist": stage == "val", "batch_size": batch_size}
        self.log(f"{stage}/loss", loss, prog_bar=on_bar(stage), **kwargs)
        if terms:
            prog_bar = terms_on_bar and on_bar(stage)
            self.log_dict(
                {f"{stage}/{k}": v for k, v in terms.items()}, prog_bar=prog_bar, **kwargs
            )
