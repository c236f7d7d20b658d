"""Every attention block runs torch's fused `scaled_dot_product_attention` (flash or
memory-efficient kernels on a GPU), not a softmax(QKᵀ)V of its own: timm's ViT blocks (the
backbone and MAE's decoder) and the HF BERT/GPT-2 layers of the text backbones."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import timm.layers.config
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from pretrainkit.backbones.text import TextTransformer
from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.tasks.mae import MAE

TEXT = {  # two small layers of each kind
    "bert": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 64},
    "gpt2": {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "n_inner": 64},
}  # fmt: skip


class SDPACalls(TorchFunctionMode):
    """Counts calls of F.scaled_dot_product_attention, however a library reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.count += func is F.scaled_dot_product_attention
        return func(*args, **(kwargs or {}))


def sdpa_calls(forward: Any, *args: Any) -> int:
    with torch.no_grad(), SDPACalls() as calls:
        forward(*args)
    return calls.count


def vit(depth: int) -> TimmBackbone:
    return TimmBackbone(
        "vit_tiny_patch16_224", 1, 8, model_kwargs={"patch_size": 2, "depth": depth}
    )


def test_every_vit_block_calls_sdpa(monkeypatch: pytest.MonkeyPatch):
    assert sdpa_calls(vit(depth=3), torch.randn(2, 1, 8, 8)) == 3
    monkeypatch.setattr(timm.layers.config, "_USE_FUSED_ATTN", 0)  # as TIMM_FUSED_ATTN=0 sets
    assert sdpa_calls(vit(depth=3), torch.randn(2, 1, 8, 8)) == 3  # on all the same


def test_every_mae_encoder_and_decoder_block_calls_sdpa():
    mae = MAE(vit(depth=3), partial(torch.optim.AdamW), decoder_depth=2)
    assert sdpa_calls(mae, torch.randn(2, 1, 8, 8)) == 3 + 2


def text_batch(padded: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    mask = torch.ones(3, 16, dtype=torch.long)
    if padded:
        mask[1, 10:], mask[2, 4:] = 0, 0  # right padding, as the collate and packing make it
    return {"input_ids": torch.randint(5, 100, (3, 16)), "attention_mask": mask}


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_every_text_layer_calls_sdpa(kind: str):
    backbone = TextTransformer(TEXT[kind], vocab_size=100, pad_token_id=0)
    assert backbone.model.config._attn_implementation == "sdpa"
    assert sdpa_calls(backbone.hidden, text_batch(padded=True)) == 2
    assert sdpa_calls(backbone, text_batch(padded=False)) == 2  # the pooled features too


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
@pytest.mark.parametrize("padded", [False, True])
def test_the_4d_mask_computes_what_hf_masks_compute(kind: str, padded: bool):
    """`hidden` hands HF a 4-D mask (no host-side padding test); HF's own masks from the 2-D
    one give the same states, padded positions included."""
    backbone = TextTransformer(TEXT[kind], vocab_size=100, pad_token_id=0).eval()
    batch = text_batch(padded)
    with torch.no_grad():
        ours = backbone.hidden(batch)
        hf = backbone.model(**batch).last_hidden_state
    torch.testing.assert_close(ours, hf, rtol=1e-5, atol=1e-5)
