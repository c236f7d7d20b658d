"""Layer-wise learning-rate decay in the fine-tuning classifier: each backbone layer's rate
follows lr x backbone_lr_scale x decay ** (L + 1 - depth), every parameter in exactly one
group, weight decay as without it, and the schedule scales every group alike."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import make_cfg

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.backbones.text import TextTransformer
from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import FinetuneConfig
from pretrainkit.config.validate import validate
from pretrainkit.errors import BadValueError
from pretrainkit.optim import warmup_cosine
from pretrainkit.tasks.classifier import Classifier

LR, SCALE, DECAY, WD = 0.01, 0.5, 0.8, 0.05
BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 3,
        "num_attention_heads": 2, "intermediate_size": 64}  # fmt: skip
GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_layer": 3, "n_head": 2, "n_inner": 64}


def classifier(config: dict, layer_decay: float | None = DECAY, **kwargs) -> Classifier:
    torch.manual_seed(0)
    optimizer = functools.partial(torch.optim.AdamW, lr=LR)
    kwargs = {"freeze_backbone": False, "backbone_lr_scale": SCALE, "weight_decay": WD, **kwargs}
    backbone = TextTransformer(config, vocab_size=50)
    return Classifier(backbone, 4, optimizer, layer_decay=layer_decay, **kwargs)


def settings(model: Classifier) -> dict[str, tuple[float, float]]:
    """Each trainable parameter's (lr, weight decay), checking it is in exactly one group."""
    optimizer = model.configure_optimizers()
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(groups)  # no repeats
    named = dict(model.named_parameters())
    assert groups.keys() == {id(p) for p in named.values()}  # all of them, nothing else
    return {n: (groups[id(p)]["lr"], groups[id(p)]["weight_decay"]) for n, p in named.items()}


def expected_depth(name: str, blocks: int) -> int | None:
    """The layer of a BERT or GPT-2 backbone parameter, from its name; None for the head."""
    if name.startswith("head."):
        return None
    if name.startswith(("backbone.model.embeddings.", "backbone.model.wte", "backbone.model.wpe")):
        return 0
    if name.startswith("backbone.model.ln_f."):
        return blocks + 1
    return int(re.search(r"\.(?:layer|h)\.(\d+)\.", name)[1]) + 1


@pytest.mark.parametrize("config", [BERT, GPT2], ids=["bert", "gpt2"])
def test_learning_rates_follow_the_layer_decay_formula(config: dict):
    decayed, plain = settings(classifier(config)), settings(classifier(config, None))
    for name, (lr, wd) in decayed.items():
        depth = expected_depth(name, 3)
        want = LR if depth is None else LR * SCALE * DECAY ** (4 - depth)
        assert lr == pytest.approx(want, rel=1e-12), name
        assert wd == plain[name][1], name  # biases and norm weights still without decay
    assert {wd for _, wd in decayed.values()} == {0.0, WD}
    lrs = sorted({round(lr, 12) for lr, _ in decayed.values()})
    assert len(lrs) == 5 + (config is GPT2)  # head, 3 blocks, embeddings (GPT-2: ln_f too)
    assert {lr for lr, _ in plain.values()} == {LR, LR * SCALE}  # without: one backbone rate


def test_scratch_backbones_and_frozen_ones_ignore_layer_decay():
    scratch = settings(classifier(BERT, pretrained=False))
    assert {lr for lr, _ in scratch.values()} == {LR}  # as backbone_lr_scale: no handicap
    frozen = classifier(BERT, freeze_backbone=True)
    groups = frozen.configure_optimizers().param_groups
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in frozen.head.parameters()}
    frozen.unfreeze()  # LP-FT's second stage decays by layer
    assert len({round(lr, 12) for lr, _ in settings(frozen).values()}) == 5


def test_the_schedule_scales_every_group_alike():
    model = classifier(GPT2, scheduler=functools.partial(warmup_cosine, warmup_fraction=0.2))
    model.trainer = SimpleNamespace(estimated_stepping_batches=10)
    configured = model.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    base = [g["initial_lr"] for g in optimizer.param_groups]
    head = base[0]
    assert head == LR and min(base) == pytest.approx(LR * SCALE * DECAY**4)
    factors = []
    for _ in range(10):
        lrs = [g["lr"] for g in optimizer.param_groups]
        factor = lrs[0] / head
        assert lrs == pytest.approx([b * factor for b in base], rel=1e-12)  # ratios kept
        factors.append(factor)
        optimizer.step()
        scheduler.step()
    assert factors[0] == pytest.approx(0.5) and factors[1] == pytest.approx(1.0)  # warm-up
    assert factors[2:] == sorted(factors[2:], reverse=True) and factors[-1] < 0.05  # cosine


def test_a_backbone_that_cannot_say_its_layers_is_refused_at_build_time():
    optimizer = functools.partial(torch.optim.AdamW, lr=LR)
    with pytest.raises(BadValueError, match=r"model.layer_decay=0.8: the backbone \(SmallCNN\)"):
        Classifier(SmallCNN(1), 10, optimizer, freeze_backbone=False, layer_decay=0.8)


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_layer_decay_outside_its_range_is_refused_by_the_config_check(value: str, tmp_path: Path):
    cfg = make_cfg("finetune", [f"model.layer_decay={value}"], tmp_path)
    with pytest.raises(
        ConfigError, match=re.escape(f"model.layer_decay={value} is outside (0, 1]")
    ):
        validate(cfg, FinetuneConfig)
    validate(make_cfg("finetune", ["model.layer_decay=1"], tmp_path), FinetuneConfig)


def test_what_a_backbone_names_in_no_weight_decay_is_not_decayed():
    """timm's convention: a ViT's class token and positions, a tabular backbone's feature
    embeddings, go to the group without weight decay; other matrices keep it."""
    from pretrainkit.backbones.tabular import FTTransformer, TabularMLP
    from pretrainkit.tasks.base import layer_decay_groups, param_groups

    for backbone, exempt in [
        (TabularMLP(num_numeric=2, cardinalities=[3, 4], hidden_dims=[8]), "embeddings."),
        (
            FTTransformer(num_numeric=2, cardinalities=[3], d_token=8, n_blocks=1, heads=2),
            "model.c",
        ),
    ]:
        names = {id(p): n for n, p in backbone.named_parameters()}
        for groups in (param_groups(backbone, 0.1), layer_decay_groups(backbone, 0.1, 0.75)):
            decayed = [names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]]
            free = [names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]]
            assert not [n for n in decayed if n.startswith(exempt)], decayed
            assert any(n.startswith(exempt) and "weight" in n for n in free)
            assert decayed  # the blocks' matrices still decay
