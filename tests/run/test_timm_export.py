"""Exported timm backbones load with timm alone, as a timm user loads any checkpoint, and give
the same features: ResNet-18 and a ViT; the small-image stem by the recipe config.json names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file
from torch import nn

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.run.export import save_backbone

META = {"task": "simclr", "dataset": "fashion_mnist", "mean": [0.286], "std": [0.353]}
CASES = {  # name, image size, model kwargs
    "resnet18": ("resnet18", 72, {}),  # above 64 px: timm's own 7x7/2 stem
    "vit": ("vit_tiny_patch16_224", 28, {"patch_size": 4, "depth": 2}),
}


@pytest.mark.parametrize("case", CASES)
def test_timm_loads_the_export_by_itself_with_the_same_features(case: str, tmp_path: Path):
    name, size, kwargs = CASES[case]
    torch.manual_seed(0)
    backbone = TimmBackbone(name, 1, size, model_kwargs=kwargs).eval()
    files = save_backbone(backbone, tmp_path, META)
    assert {p.name for p in files} >= {"config.json", "model.safetensors"}
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        expected = backbone(x)
        # 1. timm's own local-folder source: architecture and arguments from config.json
        model = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True).eval()
        torch.testing.assert_close(model(x), expected)
        # 2. the architecture named, the weights file given as an overlay
        args = json.loads((tmp_path / "timm/config.json").read_text())["model_args"]
        weights = tmp_path / "timm/model.safetensors"
        model = timm.create_model(
            name, pretrained=True, pretrained_cfg_overlay={"file": str(weights)}, **args
        ).eval()
        torch.testing.assert_close(model(x), expected)
    # a new head for the user's classes on top of the loaded features
    head = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True, num_classes=7)
    assert head(x).shape == (2, 7)
    data = timm.data.resolve_data_config({}, model=head)  # the dataset's preprocessing
    assert data["input_size"] == (1, size, size) and tuple(data["mean"]) == (0.286,)
    assert head.pretrained_cfg["tag"] == "pretrainkit-simclr"


def test_the_small_image_stem_loads_by_the_recipe_in_its_config(tmp_path: Path):
    torch.manual_seed(0)
    backbone = TimmBackbone("resnet18", 1, 28).eval()  # 3x3/1 conv, no max-pool
    save_backbone(backbone, tmp_path, META)
    config = json.loads((tmp_path / "timm/config.json").read_text())
    assert config["pretrainkit"]["small_stem"] is True
    assert "model.conv1 = nn.Conv2d" in config["pretrainkit"]["how_to_load"]
    with pytest.raises(RuntimeError, match="size mismatch for conv1.weight"):
        timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True)  # timm's 7x7 stem
    model = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=False)
    model.conv1 = nn.Conv2d(1, model.conv1.out_channels, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    model.load_state_dict(load_file(tmp_path / "timm/model.safetensors"))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), backbone(x))


def test_only_timm_backbones_get_a_timm_folder(tmp_path: Path):
    files = save_backbone(SmallCNN(), tmp_path, META)
    assert [p.name for p in files] == ["backbone.safetensors", "backbone.yaml"]
    assert not (tmp_path / "timm").exists()
    backbone = TimmBackbone(
        "vit_tiny_patch16_224", 1, 8, model_kwargs={"patch_size": 2, "depth": 1}
    )
    save_backbone(backbone, tmp_path, META)
    save_backbone(backbone, tmp_path, META)  # a second export replaces the folder whole
    assert sorted(p.name for p in (tmp_path / "timm").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    assert not list(tmp_path.glob(".timm.*"))  # no temporary folder left behind
