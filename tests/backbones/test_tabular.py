"""Tabular backbones: features from rows of numbers and category codes, with either kind of
column alone; rebuilt from their spec; every parameter trained; bad sizes refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import load_digits

from pretrainkit.backbones.base import Backbone
from pretrainkit.backbones.tabular import FTTransformer, TabularMLP
from pretrainkit.config import config_dir
from pretrainkit.config.checks import check_target
from pretrainkit.data.tabular.table import Preprocessor, RawTable, Schema, categories_of
from pretrainkit.errors import BadValueError
from pretrainkit.run.export import load_backbone, save_backbone

SMALL = {  # sizes that run the same code in milliseconds
    TabularMLP: {"hidden_dims": [32, 16], "cat_embed_dim": 4, "dropout": 0.1},
    FTTransformer: {"d_token": 16, "n_blocks": 2, "heads": 2},
}
KINDS = ("mixed", "numeric", "categorical")


def digit_rows(kind: str, n: int = 12) -> tuple[torch.Tensor, dict]:
    """Real rows encoded as the data modules do: 8x8 digits, some pixel columns numeric (48)
    and the last 4 categorical (the pixel's intensity, 0-16, as a category)."""
    pixels = load_digits().data[:n]
    n_num = {"mixed": 48, "numeric": 64, "categorical": 0}[kind]
    n_cat = {"mixed": 4, "numeric": 0, "categorical": 4}[kind]
    cat_cols = range(64 - n_cat, 64)
    categorical = [np.array([str(int(v)) for v in pixels[:, j]], dtype=object) for j in cat_cols]
    schema = Schema(
        numeric=[f"p{j}" for j in range(n_num)],
        categorical=[f"p{j}" for j in cat_cols],
        categories=[categories_of(c) for c in categorical],
    )
    table = RawTable(pixels[:, :n_num], categorical, np.zeros(n, dtype=np.int64))
    rows = Preprocessor(schema).fit(table).encode(table)
    return rows.x, schema.backbone_kwargs()


def build(cls: type[Backbone], kind: str = "mixed", **overrides) -> tuple[Backbone, torch.Tensor]:
    x, sizes = digit_rows(kind)
    torch.manual_seed(0)
    return cls(**sizes, **{**SMALL[cls], **overrides}), x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_features_of_mixed_numeric_only_and_categorical_only_rows(cls: type, kind: str):
    backbone, x = build(cls, kind)
    assert backbone.modality == "tabular"
    assert backbone.feature_dim == 16  # hidden_dims[-1], d_token
    for mode in (backbone.train, backbone.eval):
        features = mode()(x)
        assert features.shape == (len(x), backbone.feature_dim)
        assert torch.isfinite(features).all()


def test_feature_dim_follows_the_architecture():
    x, sizes = digit_rows("mixed")
    assert TabularMLP(**sizes, hidden_dims=[64, 24]).feature_dim == 24
    assert TabularMLP(**sizes).feature_dim == 256  # the default: two 256-wide layers
    assert FTTransformer(**sizes, n_blocks=1).feature_dim == 192  # the paper's d_token


@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_export_rebuilds_it_from_the_spec_alone(cls: type, tmp_path: Path):
    backbone, x = build(cls)
    backbone.train()(x).sum().backward()  # move BatchNorm's running statistics off their init
    assert backbone.spec["_target_"] == f"pretrainkit.backbones.tabular.{cls.__name__}"
    assert type(backbone.spec["cardinalities"]) is list  # plain values, as a YAML file holds
    save_backbone(backbone, tmp_path, {"task": "scarf"})
    loaded, info = load_backbone(tmp_path, fallback=None)
    assert type(loaded) is cls and info["backbone"] == backbone.spec
    assert torch.equal(backbone.eval()(x), loaded.eval()(x))
    rebuilt = instantiate(backbone.spec)  # the spec alone, as a fine-tune reads it
    rebuilt.load_state_dict(backbone.state_dict())
    assert torch.equal(backbone(x), rebuilt.eval()(x))


@pytest.mark.parametrize("kind", ["mixed", "categorical"])
@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_the_category_codes_are_embedded(cls: type, kind: str):
    backbone, x = build(cls, kind)
    backbone.eval()
    other = x.clone()
    cards = backbone.spec["cardinalities"]
    other[:, -1] = (x[:, -1] + 1) % cards[-1]  # another category of the last column
    missing = x.clone()
    missing[:, -1] = 0  # the missing / unseen code
    changed = x[:, -1] != 0
    assert changed.any()
    with torch.no_grad():
        base = backbone(x)
        assert not torch.allclose(base, backbone(other), atol=1e-6)
        assert not torch.allclose(base[changed], backbone(missing)[changed], atol=1e-6)
        assert torch.equal(base[~changed], backbone(missing)[~changed])  # already 0: same row


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_gradients_reach_every_parameter(cls: type, kind: str):
    backbone, x = build(cls, kind)
    backbone.train()
    backbone(x).square().mean().backward()
    for name, param in backbone.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_layers_place_every_parameter(cls: type):
    backbone, _ = build(cls, "mixed", **({"n_blocks": 3} if cls is FTTransformer else {}))
    layers = backbone.layers()
    names = dict(backbone.named_parameters())
    assert set(layers.depth) == set(names)
    assert set(layers.depth.values()) <= set(range(layers.blocks + 2))
    if cls is TabularMLP:
        assert layers.blocks == 2
        assert {layers.depth[n] for n in names if n.startswith("embeddings.")} == {0}
        assert {layers.depth[n] for n in names if n.startswith("blocks.1.")} == {2}
    else:
        assert layers.blocks == 3
        first = {"model.cls_embedding", "model.cont_embeddings", "model.cat_embeddings"}
        assert {layers.depth[n] for n in names if n.rsplit(".", 1)[0] in first} == {0}
        for i in range(3):
            in_block = [n for n in names if n.startswith(f"model.backbone.blocks.{i}.")]
            assert in_block and {layers.depth[n] for n in in_block} == {i + 1}
        assert layers.depth["norm.weight"] == layers.depth["norm.bias"] == 4


@pytest.mark.parametrize(
    ("cls", "bad", "message"),
    [
        (FTTransformer, {"d_token": 30, "heads": 8}, "backbone.d_token=30 must be divisible by "),
        (FTTransformer, {"n_blocks": 0}, r"backbone\.n_blocks=0 must be >= 1"),
        (FTTransformer, {"attention_dropout": 1.0}, r"attention_dropout=1.0 is outside \[0, 1\)"),
        (FTTransformer, {"ffn_factor": 0.01}, "backbone.ffn_factor=0.01 leaves no hidden unit"),
        (TabularMLP, {"hidden_dims": []}, "backbone.hidden_dims=.. needs at least one width"),
        (TabularMLP, {"hidden_dims": [8, 0]}, r"backbone\.hidden_dims\[1\]=0 must be >= 1"),
        (TabularMLP, {"cat_embed_dim": 0}, "backbone.cat_embed_dim=0 must be >= 1"),
        (TabularMLP, {"dropout": -0.1}, r"backbone\.dropout=-0.1 is outside \[0, 1\)"),
        (TabularMLP, {"num_numeric": -1}, "backbone.num_numeric=-1 must be >= 0"),
        (TabularMLP, {"cardinalities": [3, 0]}, r"backbone\.cardinalities\[1\]=0 must be >= 1"),
        (FTTransformer, {"num_numeric": 0, "cardinalities": []}, "the table has no columns"),
        (FTTransformer, {"num_numeric": None}, "come from a tabular dataset's data module"),
    ],
)
def test_bad_sizes_are_refused_in_one_line(cls: type, bad: dict, message: str):
    sizes = {"num_numeric": 2, "cardinalities": [3]}
    with pytest.raises(BadValueError, match=message) as err:
        cls(**{**sizes, **SMALL[cls], **bad})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cls", [TabularMLP, FTTransformer])
def test_rows_of_another_table_are_refused(cls: type):
    backbone, x = build(cls, "mixed")  # 48 numeric + 4 categorical columns
    with pytest.raises(BadValueError, match=r"rows of 52 columns \(48 numeric, 4 categorical\), "):
        backbone(x[:, :50])
    with pytest.raises(BadValueError, match=r"got a tensor of shape \(52,\)"):
        backbone(x[0])
    card = backbone.spec["cardinalities"][1]  # codes 0..card - 1
    x = x.clone()
    x[3, 49] = card
    with pytest.raises(
        BadValueError, match=rf"column 1 holds code {card}, .*codes 0\.\.{card - 1};"
    ):
        backbone(x)


@pytest.mark.parametrize("option", ["mlp", "ft_transformer"])
def test_the_configs_pass_validation_and_build_with_the_data_module_sizes(option: str):
    node = OmegaConf.load(Path(config_dir()) / "backbone" / f"{option}.yaml")
    assert "num_numeric" not in node and "cardinalities" not in node  # the data module's
    check_target("backbone", node)  # what pretrainkit.config.validate runs on it
    x, sizes = digit_rows("mixed")
    backbone = instantiate(node, **sizes)
    assert backbone.spec["num_numeric"] == 48
    with torch.no_grad():
        assert backbone.eval()(x).shape == (len(x), backbone.feature_dim)
