"""Masked language modelling: predict the tokens hidden in a text from the rest of it."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM, PreTrainedTokenizerBase

from pretrainkit.backbones.text import TextTransformer
from pretrainkit.config.values import Range
from pretrainkit.data.text.tokenizer import is_continuation_table
from pretrainkit.errors import BadValueError
from pretrainkit.tasks.base import OptimizerFactory, SchedulerFactory, WeightDecay
from pretrainkit.tasks.language_model import LanguageModel, TokenLoss
from pretrainkit.tasks.masking import IGNORE, mask_spans, mask_tokens


class MLM(LanguageModel):
    """Masked language modelling (Devlin et al., 2019, "BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding", arXiv:1810.04805).

    Dynamic masking (RoBERTa; Liu et al., 2019): a new 15% of the tokens every time a block is
    seen, 80% of them replaced by `[MASK]`, 10% by a random token, 10% kept. Logs masked-token
    accuracy as `acc`.

    Args:
        masking: what is chosen (`pretrainkit.tasks.masking`). `token`: each token on its own
            (BERT). `whole_word`: words, every piece of a chosen word together. `span`: spans
            of whole words (Joshi et al., 2020, "SpanBERT: Improving Pre-training by
            Representing and Predicting Spans", arXiv:1907.10529), their lengths in words
            geometric with `span_p` up to `max_span` (mean 3.8 words at 0.2 and 10), drawn
            until `mask_probability` of the tokens are masked; 80/10/10 applies per span.
        whole_word: the older spelling of `masking=whole_word` (true with `masking=token`
            means `whole_word`).
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
        masking: Literal["token", "whole_word", "span"] = "token",
        span_p: Annotated[float, Range(gt=0, le=1)] = 0.2,
        max_span: Annotated[int, Range(ge=1)] = 10,
        whole_word: bool = False,
        head_positions: Literal["masked", "all"] = "masked",
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        if mask_token_fraction + random_token_fraction > 1:  # each one's range: its annotation
            raise BadValueError(
                f"task.mask_token_fraction + task.random_token_fraction = "
                f"{mask_token_fraction + random_token_fraction} must be <= 1."
            )
        self.head = getattr(self.lm, "cls", None) or getattr(self.lm, "lm_head", None)
        if self.head is None:
            raise BadValueError(
                f"task=mlm does not know the LM head of model_type={backbone.hf_config.model_type}; "
                "use a BERT- or RoBERTa-like backbone."
            )
        self.mask_probability = mask_probability
        self.mask_token_fraction, self.random_token_fraction = (
            mask_token_fraction,
            random_token_fraction,
        )
        if whole_word and masking == "span":
            raise BadValueError(
                "task.whole_word=true with task.masking=span: spans are whole words already; "
                "drop task.whole_word."
            )
        self.masking = "whole_word" if whole_word and masking == "token" else masking
        self.span_p, self.max_span = span_p, max_span
        self.head_positions = head_positions

    def use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        super().use_tokenizer(tokenizer)
        tok = tokenizer
        if tok.mask_token_id is None:
            raise BadValueError(
                "task=mlm needs a tokenizer with a mask token: use data.tokenizer_kind=wordpiece."
            )
        special = torch.zeros(len(tok), dtype=torch.bool)
        special[tok.all_special_ids] = True
        self.register_buffer("special", special, persistent=False)
        self.register_buffer("replacement_ids", (~special).nonzero()[:, 0], persistent=False)
        words = self.masking != "token"
        continuation = is_continuation_table(tok) if words else None
        self.register_buffer("continuation", continuation, persistent=False)

    def mask(
        self, ids: torch.Tensor, candidates: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The corrupted ids and the labels of a batch, as `masking` chooses."""
        shares = (self.mask_probability, self.mask_token_fraction, self.random_token_fraction)
        args = (ids, candidates, self.tokenizer.mask_token_id, self.replacement_ids, *shares)
        if self.masking == "span":
            return mask_spans(*args, self.continuation, self.span_p, self.max_span)
        return mask_tokens(*args, self.continuation)

    def token_loss(self, batch: dict[str, torch.Tensor]) -> TokenLoss:
        ids, attention = batch["input_ids"], batch["attention_mask"]
        candidates = attention.bool() & ~self.special[ids]
        corrupted, labels = self.mask(ids, candidates)
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
