"""DINO: a student matches a momentum teacher's centred, sharpened outputs across multi-crop views."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Annotated, Any

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.optim import Optimizer

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.heads import DINOHead
from pretrainkit.losses.dino import DINOLoss
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay
from pretrainkit.tasks.byol import cosine_momentum, ema_update_

Temperature = Annotated[float, Range(gt=0)]


def teacher_temperature(epoch: int, warmup_epochs: int, start: float, end: float) -> float:
    """τ_t: linear from `start` at epoch 0 to `end` at `warmup_epochs`, then constant."""
    if epoch >= warmup_epochs:
        return end
    return start + (end - start) * epoch / warmup_epochs


@torch.no_grad()
def clip_per_parameter_(params: Iterable[nn.Parameter], max_norm: float) -> None:
    """Scale each parameter's gradient down to norm `max_norm` where it is larger: one norm per
    parameter tensor (the reference implementation's `clip_gradients`), not one for them all."""
    for p in params:
        if p.grad is not None:
            norm = torch.linalg.vector_norm(p.grad)
            p.grad.mul_((max_norm / (norm + 1e-6)).clamp(max=1))  # no host sync, unlike an if


def any_image_size(backbone: Backbone) -> Backbone:
    """A timm ViT rebuilt with timm's `dynamic_img_size` (position embeddings interpolated to
    the grid of each input: local crops are smaller), with the same weights; any other backbone
    as it is. The spec records it, so the exported ViT is rebuilt so; at the size it was built
    for it computes exactly what the fixed-size ViT does (no interpolation at that size)."""
    model = getattr(backbone, "model", None)
    if not isinstance(model, VisionTransformer) or model.dynamic_img_size:
        return backbone
    kwargs = {k: v for k, v in backbone.spec.items() if k != "_target_"}
    kwargs["model_kwargs"] = {**kwargs.get("model_kwargs", {}), "dynamic_img_size": True}
    rebuilt = type(backbone)(**kwargs)
    rebuilt.load_state_dict(backbone.state_dict())
    return rebuilt.train(backbone.training)


def same_size_runs(views: list[torch.Tensor]) -> list[torch.Tensor]:
    """Consecutive views of one size, each run concatenated: one backbone pass per resolution."""
    runs: list[list[torch.Tensor]] = []
    for view in views:
        if runs and runs[-1][0].shape[-2:] == view.shape[-2:]:
            runs[-1].append(view)
        else:
            runs.append([view])
    return [torch.cat(run) for run in runs]  # (n·B, C, H, W) each


class DINO(PretextTask):
    """DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision Transformers",
    arXiv:2104.14294).

    Views: the first `n_global` are the global crops, any after them local ones
    (`augment=dino`: `pretrainkit.augment.multicrop`). The teacher (a copy of backbone + head)
    sees the global crops only, the student every crop, one backbone pass per crop size;
    `DINOLoss` takes the cross-entropy from each teacher view to every other student view. The
    teacher takes no gradient and follows the student by an EMA after every optimizer step, τ
    rising from `base_momentum` to 1 by `byol.cosine_momentum`; its BatchNorm (ResNets)
    normalises with the batch in training, as the reference code. The teacher's temperature
    warms up linearly from `warmup_teacher_temp` over `warmup_teacher_temp_epochs`, then stays
    at `teacher_temp`; the centre is updated in training only, from the teacher's outputs of the
    whole global batch (all-reduced over DDP ranks, so every rank holds the same centre).

    During the first `freeze_last_layer` epochs the head's last layer gets no update (its
    gradient is dropped before the optimizer step: no weight decay either). Before every step
    each parameter's gradient is clipped to norm `clip_grad` on its own (the reference's
    per-parameter clipping; 0 turns it off), after DDP's all-reduce and after unscaling, in
    `configure_gradient_clipping`; a `trainer.gradient_clip_val` applies after it. A timm ViT
    is rebuilt to accept the local crops' size (`any_image_size`). The student backbone is the
    one exported.

    Defaults: the paper's (head 2048-2048-256 without BatchNorm, 65536 outputs, τ_s 0.1, τ_t 0.04 → 0.07 over 30
    epochs, centre momentum 0.9, τ 0.996, last layer frozen 1 epoch, clipping at 3.0); the
    weight decay is the run's constant one (the paper: cosine 0.04 → 0.4).
    """

    name = "dino"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        head_batch_norm: bool = False,
        out_dim: Annotated[int, Range(ge=1)] = 65536,
        n_global: Annotated[int, Range(ge=1)] = 2,
        base_momentum: Annotated[float, Range(ge=0, le=1)] = 0.996,
        student_temp: Temperature = 0.1,
        teacher_temp: Temperature = 0.07,
        warmup_teacher_temp: Temperature = 0.04,
        warmup_teacher_temp_epochs: Annotated[int, Range(ge=0)] = 30,
        center_momentum: Annotated[float, Range(ge=0, le=1)] = 0.9,
        freeze_last_layer: Annotated[int, Range(ge=0)] = 1,
        clip_grad: Annotated[float, Range(ge=0)] = 3.0,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(any_image_size(backbone), optimizer, scheduler, weight_decay)
        self.head = DINOHead(
            self.backbone.feature_dim, hidden_dim, bottleneck_dim, out_dim, head_batch_norm
        )
        self.teacher_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.head).requires_grad_(False)
        self.loss_fn = DINOLoss(out_dim, student_temp, center_momentum)
        self.n_global, self.base_momentum = n_global, base_momentum
        self.temps = (warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs)
        self.freeze_last_layer, self.clip_grad = freeze_last_layer, clip_grad
        self._total_steps = math.inf

    def teacher_temp(self) -> float:
        start, end, epochs = self.temps
        return teacher_temperature(self.current_epoch, epochs, start, end)

    def step(self, views: list[torch.Tensor], stage: str) -> torch.Tensor:
        g, b = self.n_global, len(views[0])
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(torch.cat(views[:g])))  # (G·B, K)
        features = torch.cat([self.backbone(run) for run in same_size_runs(views)])  # (V·B, D)
        student = self.head(features)  # (V·B, K)
        teacher, student = teacher.view(g, b, -1), student.view(len(views), b, -1)
        tau_t = self.teacher_temp()
        loss = self.loss_fn(student, teacher, tau_t)
        if stage == "train":
            self.loss_fn.update_center(teacher)
        self.log_terms(stage, b, loss)
        return loss

    def on_train_start(self) -> None:
        self._total_steps = self.trainer.estimated_stepping_batches

    def on_train_epoch_start(self) -> None:
        self.log("train/teacher_temp", torch.tensor(self.teacher_temp()), on_epoch=True)

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        if self.current_epoch < self.freeze_last_layer:
            self.head.last_layer.weight.grad = None  # the optimizer then skips it

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if self.clip_grad > 0:
            clip_per_parameter_(self.parameters(), self.clip_grad)
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # After the step, not in on_train_batch_end: a step checkpoint then holds this update.
        tau = cosine_momentum(self.trainer.global_step, self._total_steps, self.base_momentum)
        ema_update_(self.teacher_backbone, self.backbone, tau)
        ema_update_(self.teacher_head, self.head, tau)
        self.log("train/momentum", torch.tensor(tau), on_step=True, on_epoch=False)
