"""A timm backbone exported as timm itself saves models: `<run>/timm/{config.json,
model.safetensors}` (timm's `save_for_hf`), so `timm.create_model("local-dir:<run>/timm",
pretrained=True)` rebuilds and loads it with no pretrainkit installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from timm.models import save_for_hf
from torch import nn

from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.run.io import atomic_dir

TIMM_DIR = "timm"
SMALL_STEM_HOW = (
    "timm has no 3x3/1 ResNet stem: build with pretrained=False, set model.conv1 = "
    "nn.Conv2d(in_chans, conv1 width, 3, 1, 1, bias=False) and model.maxpool = nn.Identity(), "
    "then model.load_state_dict(safetensors.torch.load_file(<dir>/model.safetensors))"
)


def has_small_stem(model: nn.Module) -> bool:
    """Whether a timm ResNet carries `TimmBackbone`'s small-image stem (3x3/1 conv, no pool)."""
    conv1 = getattr(model, "conv1", None)
    return (
        isinstance(conv1, nn.Conv2d)
        and conv1.kernel_size == (3, 3)
        and conv1.stride == (1, 1)
        and isinstance(getattr(model, "maxpool", None), nn.Identity)
    )


def timm_model_args(backbone: TimmBackbone) -> dict[str, Any]:
    """The `timm.create_model` keyword arguments that rebuild `backbone.model`: its channels,
    the model kwargs it was built with, and a ViT's image size (its positions are per patch)."""
    spec = backbone.spec
    args: dict[str, Any] = {"in_chans": spec["in_chans"], **spec.get("model_kwargs", {})}
    if spec["name"].startswith(("vit", "deit")):
        args.setdefault("img_size", spec["image_size"])
    return args


def data_config(backbone: TimmBackbone, metadata: dict[str, Any]) -> dict[str, Any]:
    """The preprocessing these weights were trained with, for timm's `pretrained_cfg`: the
    dataset's image size and channel statistics (not ImageNet's), no resize margin."""
    spec = backbone.spec
    config: dict[str, Any] = {
        "input_size": (spec["in_chans"], spec["image_size"], spec["image_size"]),
        "crop_pct": 1.0,
        "interpolation": "bilinear",
    }
    if "mean" in metadata and "std" in metadata:
        config["mean"], config["std"] = tuple(metadata["mean"]), tuple(metadata["std"])
    return config


def save_for_timm(
    backbone: TimmBackbone, dirpath: Path, metadata: dict[str, Any] | None = None
) -> list[Path]:
    """Write `<dirpath>/timm` (config.json with the architecture, `model_args` and the
    preprocessing, and model.safetensors with the timm model's own keys) through a temporary
    directory renamed into place; return its files. The source checkpoint's ImageNet facts
    (tag, licence, paper) are blanked: these weights are the user's. A small-image ResNet stem
    is recorded in config.json (`pretrainkit.small_stem`) with how to rebuild it, since no
    timm argument builds it."""
    metadata = metadata or {}
    model = backbone.model
    small = has_small_stem(model)
    task = metadata.get("task", "pretrainkit")
    extra: dict[str, Any] = {
        "pretrained_cfg": {"tag": f"pretrainkit-{task}", "license": None, "origin_url": None},
        "pretrainkit": {"backbone": backbone.spec, "small_stem": small, "task": task},
    }
    extra["pretrained_cfg"] |= {"paper_ids": None, "paper_name": None, "notes": None}
    if small:
        extra["pretrainkit"]["how_to_load"] = SMALL_STEM_HOW

    def write(tmp: Path) -> None:
        with torch.no_grad():
            save_for_hf(
                model,
                str(tmp),
                model_config=extra,
                model_args=timm_model_args(backbone),
                data_config=data_config(backbone, metadata),
                safe_serialization=True,
            )

    return atomic_dir(dirpath / TIMM_DIR, write)
