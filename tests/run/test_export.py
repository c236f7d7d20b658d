"""Backbone export: rebuild from the spec, checksum, and clear errors for the wrong backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from helpers import make_cfg

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.run.export import load_backbone, save_backbone


def test_round_trip_rebuilds_without_config(tmp_path: Path):
    torch.manual_seed(0)
    original = SmallCNN(in_chans=1, widths=[8, 16])
    save_backbone(original, tmp_path, {"task": "simclr", "in_chans": 1})
    loaded, info = load_backbone(tmp_path, fallback=None)
    assert info["task"] == "simclr" and info["backbone"]["widths"] == [8, 16]
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(original.eval()(x), loaded.eval()(x))
    assert not list(tmp_path.glob(".backbone*"))  # no temporary files left behind


def test_bare_weights_of_another_backbone_are_refused(tmp_path: Path):
    save_backbone(SmallCNN(in_chans=1, widths=[8, 16]), tmp_path, {})
    (tmp_path / "backbone.yaml").unlink()
    fallback = make_cfg("finetune", ["backbone=resnet18"], tmp_path).backbone
    with pytest.raises(ValueError, match=r"weights of backbone=small_cnn, not of TimmBackbone\("):
        load_backbone(tmp_path / "backbone.safetensors", fallback)
    fallback = make_cfg("finetune", ["backbone=small_cnn"], tmp_path).backbone  # other widths
    with pytest.raises(
        ValueError, match=r"a small_cnn of other sizes .* set backbone\.\* to the sizes"
    ):
        load_backbone(tmp_path / "backbone.safetensors", fallback)


def test_tampered_weights_fail_the_checksum(tmp_path: Path):
    save_backbone(SmallCNN(in_chans=1, widths=[8]), tmp_path, {})
    spec = yaml.safe_load((tmp_path / "backbone.yaml").read_text())
    spec["sha256"] = "0" * 64
    (tmp_path / "backbone.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match="checksum"):
        load_backbone(tmp_path, None)


def test_missing_export_names_the_fix(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no backbone.safetensors in that directory"):
        load_backbone(tmp_path, None)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_backbone(tmp_path / "nope", None)


def test_the_saved_backbone_is_told_from_its_weights_for_every_kind():
    """A bare weights file's kind, named in the refusal when it is loaded into another."""
    from pretrainkit.backbones.audio import AudioCNN
    from pretrainkit.backbones.audio_vit import AudioViT
    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.backbones.tabular import FTTransformer, TabularMLP
    from pretrainkit.run.export import saved_backbone

    cases = [
        (SmallCNN(), "small_cnn"),
        (AudioCNN(sample_rate=8000, widths=[8]), "audio_cnn"),
        (AudioViT(sample_rate=8000, clip_seconds=0.5, model_kwargs={"depth": 1}), "audio_vit"),
        (TabularMLP(num_numeric=2, cardinalities=[3], hidden_dims=[8]), "mlp"),
        (TabularMLP(num_numeric=2, cardinalities=[], hidden_dims=[8]), "mlp"),
        (FTTransformer(num_numeric=2, cardinalities=[3], d_token=8, n_blocks=1, heads=2), "ft_transformer"),
    ]  # fmt: skip
    for backbone, name in cases:
        assert saved_backbone(backbone.state_dict()) == name, type(backbone).__name__
