"""What the text data modules share: the tokenizer, given or trained once (cached) on the
corpus, what a backbone needs of it, and the checks of the options they have in common."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerFast

from pretrainkit.data.loader import ResumableLoaders
from pretrainkit.data.text.sources import TextSource
from pretrainkit.data.text.tokenizer import (
    KINDS,
    Documents,
    cached_tokenizer,
    document_separator_id,
    load_tokenizer,
    save_tokenizer,
)
from pretrainkit.errors import BadValueError


def prepare_tokenizer(
    path: str | os.PathLike | None,
    documents: Documents,
    key: Any,
    cache_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None,
    **options: Any,
) -> PreTrainedTokenizerFast:
    """The tokenizer at `path`, or else one trained on `documents` (cached under `cache_dir`);
    saved to `output_dir/tokenizer` as well when `output_dir` is given."""
    if path is not None:
        tokenizer = load_tokenizer(path)
    else:
        tokenizer = cached_tokenizer(documents, key, cache_dir, **options)
    if output_dir is not None:
        save_tokenizer(tokenizer, Path(output_dir) / "tokenizer")
    return tokenizer


def backbone_kwargs(tokenizer: PreTrainedTokenizerFast) -> dict[str, Any]:
    """What a text backbone needs to know of the tokenizer: its size and special ids."""
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def check_text_options(batch_size: int, tokenizer: str | None, tokenizer_kind: str) -> None:
    if batch_size < 1:
        raise BadValueError(f"data.batch_size={batch_size} must be >= 1.")
    if tokenizer is None and tokenizer_kind not in KINDS:
        raise BadValueError(
            f"data.tokenizer_kind={tokenizer_kind!r}: expected {' | '.join(KINDS)}."
        )


def padding_id(tokenizer: PreTrainedTokenizerFast) -> int:
    # GPT-2's own tokenizer has no pad token; what fills padding is masked out anyway.
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else document_separator_id(tokenizer)


class TokenizedDataModule(ResumableLoaders):
    """What both text modules share: the tokenizer, loaded from `tokenizer_path` or trained
    (once, cached) on `tokenizer_corpus()` at first use, and what a backbone needs of it."""

    source: TextSource
    tokenizer_path: str | None
    tokenizer_options: dict[str, Any]
    cache_dir: str
    output_dir: str | None
    _tokenizer: PreTrainedTokenizerFast | None = None

    def tokenizer_corpus(self) -> tuple[Documents, Any]:
        """The texts a tokenizer is trained on when none is given, and their cache key."""
        raise NotImplementedError

    @property
    def tokenizer(self) -> PreTrainedTokenizerFast:
        if self._tokenizer is None:
            documents, key = self.tokenizer_corpus()
            self._tokenizer = prepare_tokenizer(
                self.tokenizer_path,
                documents,
                key,
                self.cache_dir,
                self.output_dir,
                **self.tokenizer_options,
            )
        return self._tokenizer

    @property
    def backbone_kwargs(self) -> dict[str, Any]:
        return backbone_kwargs(self.tokenizer)
