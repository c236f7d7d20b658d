"""The text pretraining data module: the corpus tokenised once, packed into blocks."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, Dataset
from transformers import PreTrainedTokenizerFast

from pretrainkit.data.text.packing import PackedBlocks, document_cut
from pretrainkit.data.text.sources import TextSource
from pretrainkit.data.text.token_cache import token_cache
from pretrainkit.data.text.tokenized import TokenizedDataModule, check_text_options, padding_id
from pretrainkit.data.text.tokenizer import Documents, document_separator_id
from pretrainkit.errors import BadValueError


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
        check_text_options(batch_size, tokenizer, tokenizer_kind)
        if monitor is not None:
            raise BadValueError(
                "the representation monitors (k-NN, probe, health, embedding) read images; "
                "text pretraining logs perplexity and token accuracy instead: use monitor=none."
            )
        if block_size < 2:
            raise BadValueError(f"data.block_size={block_size} must be >= 2.")
        if not 0 <= val_fraction < 1:
            raise BadValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
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
        pad = padding_id(tok)
        train = PackedBlocks(tokens, self.block_size, prefix, pad, 0, cut)
        if len(train) < self.batch_size:  # drop_last would leave no batch at all
            raise BadValueError(
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
