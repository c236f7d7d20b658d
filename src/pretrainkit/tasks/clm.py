"""Causal language modelling: predict every next token from the ones before it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from pretrainkit.tasks.language_model import LanguageModel, TokenLoss


class CLM(LanguageModel):
    """Next-token prediction (Radford et al., 2019, "Language Models are Unsupervised
    Multitask Learners"; GPT-2).

    Position t predicts token t + 1 within each block; padding is never a target. The blocks
    are windows of the document stream, so a document's `<|endoftext|>` is predicted as well.
    Logs next-token accuracy as `acc`.
    """

    name = "clm"
    auto_class = AutoModelForCausalLM

    def token_loss(self, batch: dict[str, torch.Tensor]) -> TokenLoss:
        ids, attention = batch["input_ids"], batch["attention_mask"]
        hidden = self.backbone.hidden(batch)  # (B, T, D)
        logits = self.lm.get_output_embeddings()(hidden[:, :-1])  # (B, T-1, V)
        targets = ids[:, 1:].masked_fill(attention[:, 1:] == 0, -100)  # (B, T-1)
        valid = targets != -100
        counted = valid.sum()
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100, reduction="sum"
        ) / counted.clamp_min(1)
        correct = ((logits.argmax(-1) == targets) & valid).sum()
        return TokenLoss(loss, correct, counted)
