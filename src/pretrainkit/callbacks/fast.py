"""Speed switches that change how the model runs, not what it saves: checkpoints and exported
backbones look as they would without them (results may differ in the last bits)."""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn

# Where channels_last=null turns it on: cuDNN's tensor-core kernels and oneDNN's CPU kernels
# compute in NHWC (on a CPU measured: 1.1x); other devices are left as they are, unmeasured.
AUTO_DEVICES = ("cuda", "cpu")
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


def is_conv_backbone(backbone: nn.Module) -> bool:
    """Whether most of `backbone`'s weights are 2-D convolutions (ResNets, the small CNN). A
    ViT's only convolution is its patch embedding, a text model has none: channels_last would
    change nothing there but the patch embedding's layout."""
    conv = sum(
        p.numel()
        for m in backbone.modules()
        if isinstance(m, nn.Conv2d)
        for p in m.parameters(recurse=False)
    )
    total = sum(p.numel() for p in backbone.parameters())
    return total > 0 and conv > total / 2


def compile_in_place(module: nn.Module, mode: CompileMode) -> bool:
    """`module.compile()` unless it is compiled already (setup runs again for `trainer.test`).
    In place, unlike `torch.compile(module)`, so no `_orig_mod.` enters the state_dict:
    checkpoints, exported backbones and resume stay as without it."""
    if getattr(module, "_compiled_call_impl", None) is not None:
        return False
    module.compile(mode=mode)
    return True


class FastPaths(Callback):
    """Opt-in speed-ups applied to the task before Lightning builds the optimizer, moves the
    model to its device and wraps it for DDP (the `setup` hook), and before a checkpoint is
    restored into it; mixed precision (`trainer.precision`) and fused optimizers
    (`optim.optimizer.fused`) are set in the config instead.

    Args:
        compile: compile the backbone and the task's other submodules that hold parameters
            (projector, predictor, head, decoder) with `torch.compile`, in place. Losses and
            metrics stay eager (a loss may gather across ranks). The first steps pay the
            compilation (about half a minute for the small CNN on a 2-core CPU, minutes for a
            ResNet-50), and validation, monitors and a smaller last batch each compile once
            more; it pays off in long runs on a GPU.
        compile_mode: `torch.compile`'s mode; `max-autotune` compiles longer for faster kernels.
        channels_last: store a convolutional backbone's weights (and hence its activations)
            as NHWC, the layout tensor cores and oneDNN's CPU kernels want. `None`: on when
            training on a CUDA GPU or a CPU (a 2-core AVX-512 CPU ran a ResNet-18 or the small
            CNN 1.1x faster), off elsewhere (MPS). Never applied to ViTs and text models.
    """

    def __init__(
        self,
        compile: bool = False,
        compile_mode: CompileMode = "default",
        channels_last: bool | None = None,
    ) -> None:
        self.compile = compile
        self.compile_mode: CompileMode = compile_mode
        self.channels_last = channels_last

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._wants_channels_last(trainer, getattr(pl_module, "backbone", pl_module)):
            # weights of every 4-D tensor in the task (BYOL's target network too); Module.to
            # keeps the Parameter objects, and moving to the device later keeps the layout
            pl_module.to(memory_format=torch.channels_last)
        if self.compile:
            compiled = [
                name
                for name, child in pl_module.named_children()
                if any(True for _ in child.parameters())
                and compile_in_place(child, self.compile_mode)
            ]
            if compiled:
                rank_zero_info(f"torch.compile ({self.compile_mode}): {', '.join(compiled)}")

    def _wants_channels_last(self, trainer: L.Trainer, backbone: nn.Module) -> bool:
        if self.channels_last is False:
            return False
        if not is_conv_backbone(backbone):
            if self.channels_last:
                rank_zero_warn(
                    "callbacks.fast.channels_last=true: not a convolutional backbone, left as is"
                )
            return False
        return bool(self.channels_last) or trainer.strategy.root_device.type in AUTO_DEVICES
