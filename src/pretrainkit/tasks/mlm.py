"""Masked language modelling: predict the tokens hidden in a text from the rest of it."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM, PreTrainedTokenizerBase

from pretrainkit.backbones.text import TextTransformer
from pretrainkit.config.values import Range
from pretrainkit.data.text.tokenizer import is_continuation_table
from pretrainkit.tasks.base import OptimizerFactory, SchedulerFactory, WeightDecay
from pretrainkit.tasks.language_model import LanguageModel, TokenLoss

IGNORE = -100  # the label of tokens that are not predicted


def mask_tokens(
    input_ids: torch.Tensor,
    candidates: torch.Tensor,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    probability: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
    continuation: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's dynamic masking, drawn afresh for every batch.

    Each candidate token (a real, non-special token) is chosen with `probability`; a chosen
    token becomes `[MASK]` with `mask_fraction`, a random token from `replacement_ids` with
    `random_fraction`, and stays itself otherwise. With `continuation` (a per-vocabulary table
    of word-continuation pieces) whole words are chosen: a word's pieces share one draw.

    Returns the corrupted ids and the labels (the original id where chosen, else -100).
    """
    shape, device = input_ids.shape, input_ids.device
    draw = torch.rand(shape, device=device, generator=generator)  # (B, T)
    if continuation is not None:
        starts = candidates & ~continuation[input_ids]  # (B, T): first piece of each word
        word = starts.long().cumsum(1)  # (B, T): index of the word each piece belongs to
        per_word = torch.ones(shape[0], shape[1] + 1, device=device)  # word 0: before any start
        per_word.scatter_(1, word * starts, torch.where(starts, draw, 1.0))
        draw = per_word.gather(1, word)  # every piece takes its word's draw
    chosen = candidates & (draw < probability)
    labels = torch.where(chosen, input_ids, IGNORE)
    action = torch.rand(shape, device=device, generator=generator)
    to_mask = chosen & (action < mask_fraction)
    to_random = chosen & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    pick = torch.randint(len(replacement_ids), shape, device=device, generator=generator)
    corrupted = torch.where(to_mask, mask_token_id, input_ids)
    corrupted = torch.where(to_random, replacement_ids.to(device)[pick], corrupted)
    return corrupted, labels


class MLM(LanguageModel):
    """Masked language modelling (Devlin et al., 2019, "BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding", arXiv:1810.04805).

    Dynamic masking (RoBERTa; Liu et al., 2019): a new 15% of the tokens every time a block is
    seen, 80% of them replaced by `[MASK]`, 10% by a random token, 10% kept. Optional
    whole-word masking. Logs masked-token accuracy as `acc`.

    Args:
        head_positions: where the LM head runs. `masked`: only on the chosen positions, a
            sixth of the vocabulary projections, but their number is read on the host, one
            host-device sync per step (mid-forward: the step's backward is queued right after
            and still overlaps the next batch's loading). `all`: on every position, the loss
            taken over the chosen ones: the same loss and gradients with no sync, for ~6x the
            head's work (bert_small with an 8,000-token vocabulary: ~1.5x the model's FLOPs;
            a CPU step took 4.4 s instead of 2.8 s).
    """

    name = "mlm"
    auto_class = AutoModelForMaskedLM

    def __init__(
        self,
        backbone: TextTransformer,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        weight_decay: WeightDecay = 0.01,
        mask_probability: Annotated[float, Range(gt=0, lt=1)] = 0.15,
        mask_token_fraction: Annotated[float, Range(ge=0, le=1)] = 0.8,
        random_token_fraction: Annotated[float, Range(ge=0, le=1)] = 0.1,
        whole_word: bool = False,
        head_positions: Literal["masked", "all"] = "masked",
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        if mask_token_fraction + random_token_fraction > 1:  # each one's range: its annotation
            raise ValueError(
                f"task.mask_token_fraction + task.random_token_fraction = "
                f"{mask_token_fraction + random_token_fraction} must be <= 1."
            )
        self.head = getattr(self.lm, "cls", None) or getattr(self.lm, "lm_head", None)
        if self.head is None:
            raise ValueError(
                f"task=mlm does not know the LM head of model_type={backbone.hf_config.model_type}; "
                "use a BERT- or RoBERTa-like backbone."
            )
        self.mask_probability = mask_probability
        self.mask_token_fraction, self.random_token_fraction = (
            mask_token_fraction,
            random_token_fraction,
        )
        self.whole_word = whole_word
        self.head_positions = head_positions

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        super().use_tokenizer(tokenizer)
        tok = tokenizer
        if tok.mask_token_id is None:
            raise ValueError(
                "task=mlm needs a tokenizer with a mask token: use data.tokenizer_kind=wordpiece."
            )
        special = torch.zeros(len(tok), dtype=torch.bool)
        special[tok.all_special_ids] = True
        self.register_buffer("special", special, persistent=False)
        self.register_buffer("replacement_ids", (~special).nonzero()[:, 0], persistent=False)
        continuation = is_continuation_table(tok) if self.whole_word else None
        self.register_buffer("continuation", continuation, persistent=False)

    def token_loss(self, batch: dict[str, torch.Tensor]) -> TokenLoss:
        ids, attention = batch["input_ids"], batch["attention_mask"]
        candidates = attention.bool() & ~self.special[ids]
        corrupted, labels = mask_tokens(
            ids,
            candidates,
            self.tokenizer.mask_token_id,
            self.replacement_ids,
            self.mask_probability,
            self.mask_token_fraction,
            self.random_token_fraction,
            self.continuation,
        )
        hidden = self.backbone.hidden({"input_ids": corrupted, "attention_mask": attention})
        chosen = labels != IGNORE  # (B, T)
        if self.head_positions == "masked":
            # boolean indexing: N is read on the host (one host-device sync per step)
            logits, targets = self.head(hidden[chosen]), labels[chosen]  # (N, V), (N,)
        else:
            logits, targets = self.head(hidden).flatten(0, 1), labels.flatten()  # (B*T, V)
        counted = chosen.sum()
        # mean over the chosen tokens; a batch without any (vanishingly rare) gives 0, not NaN
        loss = F.cross_entropy(
            logits.float(), targets, ignore_index=IGNORE, reduction="sum"
        ) / counted.clamp_min(1)
        correct = ((logits.argmax(-1) == targets) & (targets != IGNORE)).sum()
        return TokenLoss(loss, correct, counted)
