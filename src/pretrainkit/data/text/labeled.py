"""The text fine-tuning data module: labeled texts encoded once, padded per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerFast

from pretrainkit.data.loader import LabeledLoaders
from pretrainkit.data.splits import check_label_budget, train_val_indices
from pretrainkit.data.text.sources import LabeledTexts, TextSource
from pretrainkit.data.text.tokenized import TokenizedDataModule, check_text_options, padding_id
from pretrainkit.data.text.tokenizer import Documents
from pretrainkit.errors import BadValueError


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
            raise BadValueError(f"data.min_steps_per_epoch={min_steps_per_epoch} must be >= 0.")
        self.min_steps_per_epoch = min_steps_per_epoch
        check_text_options(batch_size, tokenizer, tokenizer_kind)
        if max_length < 2:
            raise BadValueError(f"data.max_length={max_length} must be >= 2.")
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

    def _split(self) -> tuple[LabeledTexts, LabeledTexts, np.ndarray, np.ndarray]:
        """The source's train and test splits, and the indices into train of the labeled
        subset and of the validation hold-out."""
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        return train, self.source.labeled("test"), chosen, val

    def labeled_splits(self) -> dict[str, LabeledTexts]:
        """The texts `setup` encodes, as they are: the labeled subset (`train`), the validation
        hold-out (`val`) and the test split. What a classical baseline fits and scores
        (`pretrainkit.baselines`): no tokenizer is trained or loaded."""
        train, test, chosen, val = self._split()
        return {"train": train.subset(chosen), "val": train.subset(val), "test": test}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, test, chosen, val = self._split()
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
        return PadCollate(padding_id(self.tokenizer))
