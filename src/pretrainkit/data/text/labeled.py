"""Data modules for text: packed token blocks for pretraining, labeled texts for fine-tuning."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import PreTrainedTokenizerFast

from pretrainkit.data.labeled import LabeledLoaders
from pretrainkit.data.loader import ResumableLoaders
from pretrainkit.data.packing import PackedBlocks, document_cut
from pretrainkit.data.splits import check_label_budget, train_val_indices
from pretrainkit.data.text_sources import TextSource
from pretrainkit.data.token_cache import token_cache
from pretrainkit.data.tokenizer import (
    KINDS,
    Documents,
    cached_tokenizer,
    document_separator_id,
    load_tokenizer,
    save_tokenizer,
)


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


def _check_common(batch_size: int, tokenizer: str | None, tokenizer_kind: str) -> None:
    if batch_size < 1:
        raise ValueError(f"data.batch_size={batch_size} must be >= 1.")
    if tokenizer is None and tokenizer_kind not in KINDS:
        raise ValueError(f"data.tokenizer_kind={tokenizer_kind!r}: expected {' | '.join(KINDS)}.")


def _pad_id(tokenizer: PreTrainedTokenizerFast) -> int:
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


class TextDataModule(TokenizedDataModule):
    """Unlabeled text for language-model pretraining (MLM, CLM).

    The source's documents are tokenised once into a memory-mapped cache (reused by later runs
    with the same corpus and tokenizer), each document followed by a separator ([SEP], or
    <|endoftext|> for BPE). The stream is cut at a document boundary: the last `val_fraction`
    for `val/*`, the rest for training, so the two share no text. Both are packed into blocks
    of `block_size` ids, each opened by [CLS] when `prefix_cls` and the tokenizer has one.

    Args:
        source: the corpus; only `documents()` is read.
        tokenizer: a tokenizer directory, tokenizer.json or pretrain run directory; None trains
            one (`tokenizer_kind`, `vocab_size`, `min_frequency`, `lowercase`) on the corpus,
            cached in `cache_dir` for later runs.
        cache_dir: where trained tokenizers and token caches are kept (shared between runs).
        output_dir: the run directory; the tokenizer is saved in `output_dir/tokenizer`.
        seed: kept for the config's symmetry; the validation split is the stream's tail.
        monitor: must be None (`monitor=none`): the monitors are for images.
    """

    def __init__(
        self,
        source: TextSource,
        tokenizer: str | None = None,
        tokenizer_kind: str = "wordpiece",
        vocab_size: int = 8000,
        min_frequency: int = 2,
        lowercase: bool = True,
        block_size: int = 128,
        prefix_cls: bool = True,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
        val_fraction: float = 0.05,
        seed: int = 0,
        cache_dir: str = "outputs/.cache/text",
        output_dir: str | None = None,
        monitor: Any = None,
    ) -> None:
        super().__init__()
        _check_common(batch_size, tokenizer, tokenizer_kind)
        if monitor is not None:
            raise ValueError(
                "the representation monitors (k-NN, probe, health, embedding) read images; "
                "text pretraining logs perplexity and token accuracy instead: use monitor=none."
            )
        if block_size < 2:
            raise ValueError(f"data.block_size={block_size} must be >= 2.")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
        self.source, self.tokenizer_path = source, tokenizer
        self.tokenizer_options = {
            "kind": tokenizer_kind,
            "vocab_size": vocab_size,
            "min_frequency": min_frequency,
            "lowercase": lowercase,
        }
        self.block_size, self.prefix_cls = block_size, prefix_cls
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed = val_fraction, seed
        self.cache_dir, self.output_dir = cache_dir, output_dir
        self._tokenizer: PreTrainedTokenizerFast | None = None
        self.train_set: PackedBlocks | None = None
        self.val_set: PackedBlocks | None = None

    def tokenizer_corpus(self) -> tuple[Documents, Any]:
        return self.source.documents, ("documents", self.source.fingerprint())

    def prepare_data(self) -> None:
        # One process per node builds the caches; setup() on every rank then reuses them.
        token_cache(self.source, self.tokenizer, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        tok = self.tokenizer
        self.tokens = tokens = token_cache(self.source, tok, self.cache_dir)  # memory-mapped ids
        sep = document_separator_id(tok)
        cut = document_cut(tokens, sep, 1 - self.val_fraction) if self.val_fraction else None
        prefix = tok.cls_token_id if self.prefix_cls else None
        pad = _pad_id(tok)
        train = PackedBlocks(tokens, self.block_size, prefix, pad, 0, cut)
        if len(train) < self.batch_size:  # drop_last would leave no batch at all
            raise ValueError(
                f"the corpus packs into {len(train)} training blocks of data.block_size="
                f"{self.block_size} tokens, fewer than data.batch_size={self.batch_size}; lower "
                "data.batch_size or data.block_size, or use a larger corpus."
            )
        self.train_set = train
        self.val_set = PackedBlocks(tokens, self.block_size, prefix, pad, cut) if cut else None

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        return self.make_loader(dataset, train=train, drop_last=train)  # equal batches per rank

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, train=True)  # type: ignore[arg-type]

    def val_dataloader(self) -> DataLoader | list:
        self.setup()
        return self._loader(self.val_set, train=False) if self.val_set is not None else []


class EncodedTexts(Dataset):
    """Token ids of texts (kept flat, with offsets) and their class targets."""

    def __init__(self, ids: Sequence[Sequence[int]], targets: np.ndarray) -> None:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.flat = np.fromiter((t for x in ids for t in x), np.int64, count=int(lengths.sum()))
        self.targets = np.asarray(targets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        ids = self.flat[self.offsets[i] : self.offsets[i + 1]]
        return torch.from_numpy(ids.copy()), int(self.targets[i])


class PadCollate:
    """Batches texts padded (right) to the longest in the batch: ({"input_ids", "attention_mask"}
    (B, T), labels (B,))."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(
        self, batch: list[tuple[torch.Tensor, int]]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        length = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), length), self.pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, (ids, _) in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        labels = torch.tensor([label for _, label in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask}, labels


class LabeledTextDataModule(TokenizedDataModule, LabeledLoaders):
    """Labeled texts for fine-tuning a text classifier, with the image module's label semantics.

    From the source's labeled train split, `val_fraction` of every class is held out for
    validation first; the labeled training set is then `label_fraction` of every class (at least
    one text each) or `labels_per_class` texts of every class, stratified and seeded. Texts are
    encoded once in `setup` with the tokenizer's own special tokens ([CLS] ... [SEP] for
    WordPiece; BPE texts end with <|endoftext|>), truncated to `max_length`, and padded per
    batch.

    Args:
        tokenizer: a pretrain run directory (its `tokenizer/`), a tokenizer directory or a
            tokenizer.json; None (from-scratch baselines) trains one (`tokenizer_kind`,
            `vocab_size`, `lowercase`) on the labeled train split's texts, cached in
            `cache_dir`.
        output_dir: the run directory; the tokenizer is saved in `output_dir/tokenizer`.
    """

    def __init__(
        self,
        source: TextSource,
        tokenizer: str | None = None,
        tokenizer_kind: str = "wordpiece",
        vocab_size: int = 8000,
        lowercase: bool = True,
        max_length: int = 128,
        label_fraction: float | None = 1.0,
        labels_per_class: int | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = True,
        cache_dir: str = "outputs/.cache/text",
        output_dir: str | None = None,
        min_steps_per_epoch: int = 0,
    ) -> None:
        super().__init__()
        label_fraction = check_label_budget(label_fraction, labels_per_class, val_fraction)
        if min_steps_per_epoch < 0:
            raise ValueError(f"data.min_steps_per_epoch={min_steps_per_epoch} must be >= 0.")
        self.min_steps_per_epoch = min_steps_per_epoch
        _check_common(batch_size, tokenizer, tokenizer_kind)
        if max_length < 2:
            raise ValueError(f"data.max_length={max_length} must be >= 2.")
        self.source, self.tokenizer_path = source, tokenizer
        self.tokenizer_options = {
            "kind": tokenizer_kind,
            "vocab_size": vocab_size,
            "lowercase": lowercase,
        }
        self.max_length = max_length
        self.label_fraction, self.labels_per_class = label_fraction, labels_per_class
        self.val_fraction, self.seed = val_fraction, seed
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.cache_dir, self.output_dir = cache_dir, output_dir
        self._tokenizer: PreTrainedTokenizerFast | None = None
        self.train_set: EncodedTexts | None = None

    def tokenizer_corpus(self) -> tuple[Documents, Any]:
        def texts() -> list[str]:
            return self.source.labeled("train").texts  # never the test texts

        return texts, ("labeled-train", self.source.fingerprint())

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of `texts`, special tokens included, at most `max_length` each."""
        tok = self.tokenizer
        # Specials spelled out inside a text stay text.
        kwargs = {"truncation": True, "split_special_tokens": True}
        if tok.num_special_tokens_to_add() > 0:  # e.g. [CLS] ... [SEP]
            return tok(texts, max_length=self.max_length, **kwargs)["input_ids"]
        eos = tok.eos_token_id  # BPE adds nothing: end each text as pretraining ended documents
        if eos is None:
            return tok(texts, add_special_tokens=False, max_length=self.max_length, **kwargs)[
                "input_ids"
            ]
        ids = tok(texts, add_special_tokens=False, max_length=self.max_length - 1, **kwargs)
        return [x + [eos] for x in ids["input_ids"]]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        test = self.source.labeled("test")
        self.val_set = self._encoded(train.texts, train.targets, val, by_length=True)
        self.test_set = self._encoded(test.texts, test.targets, np.arange(len(test)), True)
        self.train_set = self._encoded(train.texts, train.targets, chosen)
        self.split_indices = {"train": chosen, "val": val, "test": np.arange(len(test))}

    def _encoded(
        self, texts: list[str], targets: np.ndarray, idx: np.ndarray, by_length: bool = False
    ) -> EncodedTexts:
        ids = self.encode([texts[i] for i in idx])
        if by_length:  # evaluation order is free: similar lengths per batch pad least
            order = np.argsort([len(x) for x in ids], kind="stable")
            ids, idx = [ids[i] for i in order], idx[order]
        return EncodedTexts(ids, targets[idx])

    def collate_fn(self) -> PadCollate:
        return PadCollate(_pad_id(self.tokenizer))
