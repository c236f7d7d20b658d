"""The LM tasks' losses on real fortunes blocks equal the ones HF's own LM-head models compute,
and the LM head shares the backbone's modules (what pretraining trains is what is exported)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate

from pretrainkit.tasks.mlm import mask_tokens

FORTUNES = Path("/usr/share/games/fortunes")


def build(task: str, tmp_path: Path):
    if not (FORTUNES / "computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")
    cfg = make_cfg("pretrain", [f"task={task}", "backbone.config.n_layer=2"] if task == "clm" else
                   [f"task={task}", "backbone.config.num_hidden_layers=2"], tmp_path)  # fmt: skip
    dm = instantiate(cfg.data)
    dm.setup()
    model = instantiate(cfg.task, backbone=instantiate(cfg.backbone, **dm.backbone_kwargs))
    model.use_tokenizer(dm.tokenizer)
    batch = next(iter(dm.train_dataloader()))
    return model.eval(), batch  # eval: no dropout, so both computations see the same network


def test_mlm_loss_equals_hf_masked_lm_loss(tmp_path: Path):
    model, batch = build("mlm", tmp_path)
    assert model.lm.bert is model.backbone.model  # one set of weights
    torch.manual_seed(0)
    loss, correct, counted = model.token_loss(batch)
    torch.manual_seed(0)  # the same draw again, to hand HF the same corrupted input
    ids, attention = batch["input_ids"], batch["attention_mask"]
    candidates = attention.bool() & ~model.special[ids]
    corrupted, labels = mask_tokens(
        ids, candidates, model.tokenizer.mask_token_id, model.replacement_ids
    )
    with torch.no_grad():
        reference = model.lm(input_ids=corrupted, attention_mask=attention, labels=labels)
    assert counted == (labels != -100).sum() > 0.1 * attention.sum()
    assert loss.item() == pytest.approx(reference.loss.item(), rel=1e-5)
    hf_correct = (reference.logits.argmax(-1) == labels)[labels != -100].sum()
    assert correct == hf_correct


def test_clm_loss_equals_hf_causal_lm_loss(tmp_path: Path):
    model, batch = build("clm", tmp_path)
    assert model.lm.transformer is model.backbone.model
    assert model.lm.lm_head.weight is model.backbone.model.wte.weight  # tied embeddings
    batch["attention_mask"][-1, 100:] = 0  # padding is never a target
    loss, _, counted = model.token_loss(batch)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        reference = model.lm(**batch, labels=labels)  # HF shifts the labels itself
    assert counted == batch["attention_mask"][:, 1:].sum()
    assert loss.item() == pytest.approx(reference.loss.item(), rel=1e-5)


def test_mlm_head_on_all_positions_gives_the_same_loss_and_gradients(tmp_path: Path):
    """task.head_positions=all (no host-device sync) against the default masked selection."""
    model, batch = build("mlm", tmp_path)
    results = {}
    for positions in ("masked", "all"):
        model.head_positions = positions
        model.zero_grad()
        torch.manual_seed(0)  # the same masking draw for both
        loss, correct, counted = model.token_loss(batch)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results[positions] = loss.detach(), correct, counted, grads
    (loss_m, correct_m, counted_m, grads_m), (loss_a, correct_a, counted_a, grads_a) = (
        results["masked"],
        results["all"],
    )
    assert counted_m == counted_a > 0 and correct_m == correct_a
    torch.testing.assert_close(loss_a, loss_m, rtol=1e-5, atol=0)
    assert len(grads_a) == len(grads_m)
    for a, m in zip(grads_a, grads_m, strict=True):
        torch.testing.assert_close(a, m, rtol=1e-4, atol=1e-6)
