"""HF `transformers` Transformers as backbones: token ids in, one pooled feature vector out."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

from pretrainkit.backbones.base import Backbone, Layers, layers_around
from pretrainkit.errors import BadValueError

POOLINGS = ("mean", "cls", "last")
# Decoder model types: each token attends only to the ones before it (next-token prediction).
CAUSAL_TYPES = ("gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2")


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise BadValueError(f"backbone.pooling={pooling}: expected one of {', '.join(POOLINGS)}.")


class TextTransformer(Backbone):
    """A Transformer encoder (BERT-like) or decoder (GPT-2-like) built from an HF config.

    The model is built from scratch from `config` (any `transformers` model type: `bert`,
    `roberta`, `gpt2`, ...) or, with `init_from`, loaded from a local checkpoint directory
    (`save_pretrained` output) to continue pretraining it. The vocabulary size and special ids
    come from the tokenizer at run time. The forward pass takes `{"input_ids", "attention_mask"}`
    and returns pooled features (B, hidden_size):

    - `mean`: the average over non-padding tokens (the default: a from-scratch MLM never
      trains `[CLS]`, and a causal model's average sees the whole text);
    - `cls`: the first token; `last`: the last non-padding token (GPT-2's classifier choice).

    `pooling=None` means `mean`. Pooling has no weights, so a fine-tune may read a pretrained
    backbone with another one (`use_pooling`). `hidden(inputs)` gives the per-token states the pretext tasks need.
    """

    modality = "text"

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        pad_token_id: int | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        pooling: Literal["mean", "cls", "last"] | None = None,
        init_from: str | None = None,
    ) -> None:
        pooling = pooling or "mean"
        check_pooling(pooling)
        config = dict(config or {"model_type": "bert"})
        given = {
            "vocab_size": vocab_size,
            "pad_token_id": pad_token_id,
            "bos_token_id": bos_token_id,
            "eos_token_id": eos_token_id,
        }
        config.update({k: v for k, v in given.items() if v is not None})
        if init_from:
            model = AutoModel.from_pretrained(init_from, attn_implementation="sdpa")
            config = model.config.to_diff_dict()
        else:
            model_type = config.pop("model_type", None)
            if model_type is None:
                raise BadValueError("backbone.config needs a model_type, e.g. bert or gpt2.")
            hf_config = AutoConfig.for_model(model_type, **config)
            model = AutoModel.from_config(hf_config, attn_implementation="sdpa")
            config = {"model_type": model_type, **config}
        if getattr(model, "pooler", None) is not None:
            # BERT's [CLS] pooler is trained by next-sentence prediction only: unused here, it
            # would get no gradients (which DDP refuses) and export untrained weights.
            model.pooler = None
        # The spec rebuilds the architecture without init_from: the exported weights carry it.
        super().__init__(config=config, pooling=pooling)
        self.model: PreTrainedModel = model
        self.pooling = pooling
        self.feature_dim = int(model.config.hidden_size)

    def use_pooling(self, pooling: str) -> None:
        """Pool features with `pooling` from now on (and say so in `spec`)."""
        check_pooling(pooling)
        self.pooling = self.spec["pooling"] = pooling

    @property
    def hf_config(self) -> PretrainedConfig:
        return self.model.config

    @property
    def is_causal(self) -> bool:
        return bool(getattr(self.model.config, "is_decoder", False)) or (
            self.model.config.model_type in CAUSAL_TYPES
        )

    def layers(self) -> Layers | None:
        """Embeddings at depth 0, the i-th Transformer block at i + 1, a final norm (GPT-2's
        `ln_f`) above them: the blocks are the model's one `ModuleList` of
        `num_hidden_layers` modules (BERT's `encoder.layer`, GPT-2's `h`, Llama's `layers`)."""
        n = self.model.config.num_hidden_layers
        for module in self.model.modules():
            if isinstance(module, nn.ModuleList) and len(module) == n:
                return layers_around(self, module)
        return None

    def hidden(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-token hidden states (B, T, hidden_size)."""
        mask = self.sdpa_mask(inputs["attention_mask"])
        # no KV cache: a decoder would build one (config.use_cache) that training never reads
        extra = {"use_cache": False} if self.is_causal else {}
        out = self.model(input_ids=inputs["input_ids"], attention_mask=mask, **extra)
        return out.last_hidden_state

    def sdpa_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """The 4-D boolean mask SDPA takes, built on the device from the (B, T) padding mask.

        HF uses a 4-D mask as given; from the 2-D one it would first test whether any token is
        padding (`mask.all()`, read on the host: a host-device sync every forward pass) to
        drop the mask for an unmasked flash kernel. Masking nothing computes the same.
        """
        if self.model.config._attn_implementation != "sdpa":
            return attention_mask  # other kernels take HF's own masks
        keys = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): padding is never attended
        if not self.is_causal:
            return keys
        t = attention_mask.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=keys.device).tril()  # (T, T)
        return keys & causal  # (B, 1, T, T): each token sees the real tokens up to itself

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.hidden(inputs)  # (B, T, D)
        mask = inputs["attention_mask"]
        if self.pooling == "cls":
            return h[:, 0]
        if self.pooling == "last":  # right padding: the last real token sits at length - 1
            last = mask.sum(1).clamp_min(1) - 1  # (B,)
            return h[torch.arange(len(h), device=h.device), last]
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)
