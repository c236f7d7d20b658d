"""The text backbones: how a text becomes one feature vector (`pooling`, and a fine-tune's own
choice of it), and which layer each parameter is in (for layer-wise learning-rate decay)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers import make_cfg

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.backbones.text import TextTransformer
from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import FinetuneConfig
from pretrainkit.config.validate import validate
from pretrainkit.errors import BadValueError

BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 3,
        "num_attention_heads": 2, "intermediate_size": 64}  # fmt: skip
GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_layer": 3, "n_head": 2, "n_inner": 64}


def padded_batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(5, 50, (3, 7), generator=torch.Generator().manual_seed(0))
    attention = torch.ones_like(ids)
    attention[1, 4:] = 0  # right padding, as the fine-tuning collate pads
    attention[2, 1:] = 0
    return {"input_ids": ids, "attention_mask": attention}


@pytest.mark.parametrize("config", [BERT, GPT2], ids=["bert", "gpt2"])
def test_poolings_read_the_right_tokens(config: dict):
    torch.manual_seed(0)
    backbone = TextTransformer(config, vocab_size=50).eval()
    assert backbone.pooling == "mean" and backbone.spec["pooling"] == "mean"  # null: mean
    inputs = padded_batch()
    with torch.no_grad():
        hidden = backbone.hidden(inputs)  # (B, T, D)
        features = {}
        for pooling in ("mean", "cls", "last"):
            backbone.use_pooling(pooling)
            features[pooling] = backbone(inputs)
    lengths = inputs["attention_mask"].sum(1)
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(features["mean"][row], hidden[row, :n].mean(0))
        torch.testing.assert_close(features["cls"][row], hidden[row, 0])
        torch.testing.assert_close(features["last"][row], hidden[row, n - 1])
    assert backbone.spec["pooling"] == "last"  # what the features cache is keyed by
    with pytest.raises(BadValueError, match="backbone.pooling=max: expected one of mean, cls"):
        backbone.use_pooling("max")


def test_a_pooling_outside_the_choices_is_refused_by_the_config_check(tmp_path: Path):
    cfg = make_cfg("finetune", ["dataset=fortunes", "backbone.pooling=max"], tmp_path)
    refusal = "backbone.pooling=max is a string, but it must be one of mean, cls, last or null"
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        validate(cfg, FinetuneConfig)


def test_bert_layers_embeddings_then_blocks():
    backbone = TextTransformer(BERT, vocab_size=50)
    layers = backbone.layers()
    assert layers is not None and layers.blocks == 3
    assert set(layers.depth) == {n for n, _ in backbone.named_parameters()}
    for name, depth in layers.depth.items():
        if name.startswith("model.embeddings."):
            assert depth == 0, name
        else:
            block = int(re.match(r"model\.encoder\.layer\.(\d+)\.", name)[1])
            assert depth == block + 1, name


def test_gpt2_layers_put_the_final_norm_above_the_blocks():
    backbone = TextTransformer(GPT2, vocab_size=50)
    layers = backbone.layers()
    assert layers is not None and layers.blocks == 3
    depth = layers.depth
    assert depth["model.wte.weight"] == depth["model.wpe.weight"] == 0
    assert depth["model.ln_f.weight"] == depth["model.ln_f.bias"] == 4
    assert depth["model.h.0.attn.c_attn.weight"] == 1 and depth["model.h.2.mlp.c_fc.bias"] == 3


def test_vit_layers_and_backbones_that_cannot_say():
    vit = TimmBackbone("vit_tiny_patch16_224", 1, 32, model_kwargs={"patch_size": 8, "depth": 2})
    layers = vit.layers()
    assert layers is not None and layers.blocks == 2
    depth = layers.depth
    assert depth["model.cls_token"] == depth["model.pos_embed"] == 0
    assert depth["model.patch_embed.proj.weight"] == 0
    assert depth["model.blocks.1.mlp.fc2.weight"] == 2 and depth["model.norm.weight"] == 3
    assert SmallCNN(1).layers() is None
