"""Token streams: cut at a document boundary, packed into fixed-length blocks for pretraining."""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pretrainkit.errors import BadValueError


class PackedBlocks(Dataset):
    """`tokens[start:stop]` cut into consecutive blocks of `block_size` ids.

    Each block is `prefix_id` (if given, e.g. BERT's [CLS]) followed by the next
    `block_size - 1` stream ids (`block_size` without a prefix), so no token is lost or
    repeated and the separators between documents stay where the stream has them. The last,
    partial block is right-padded with `pad_id` (attention mask 0). Slices are read on access,
    so `tokens` may be a memory map larger than RAM.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        block_size: int,
        prefix_id: int | None,
        pad_id: int,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self.chunk = block_size - (prefix_id is not None)  # stream ids per block
        if self.chunk < 1:
            need = 2 if prefix_id is not None else 1
            raise BadValueError(f"data.block_size={block_size} must be >= {need}.")
        stop = len(tokens) if stop is None else stop
        if not 0 <= start <= stop <= len(tokens):
            raise ValueError(f"start={start}, stop={stop} outside a stream of {len(tokens)}.")
        self.tokens, self.start, self.stop = tokens, start, stop
        self.block_size, self.prefix_id, self.pad_id = block_size, prefix_id, pad_id

    def __len__(self) -> int:
        return -(-(self.stop - self.start) // self.chunk)  # ceil

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"block {i} of {len(self)}")
        i %= len(self)
        lo = self.start + i * self.chunk
        ids = torch.from_numpy(
            np.array(self.tokens[lo : min(lo + self.chunk, self.stop)], dtype=np.int64)
        )
        if self.prefix_id is not None:
            ids = torch.cat([torch.tensor([self.prefix_id]), ids])
        input_ids = torch.full((self.block_size,), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros(self.block_size, dtype=torch.long)
        input_ids[: len(ids)] = ids
        attention_mask[: len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def __getstate__(self) -> dict[str, Any]:
        # A memory map would be pickled as a full copy of its data (spawned DataLoader
        # workers, DDP spawn): send its file name instead and map it again on arrival.
        state = self.__dict__.copy()
        tokens = self.tokens
        if isinstance(tokens, np.memmap) and isinstance(tokens.base, mmap.mmap):
            state["tokens"] = (
                "memmap",
                tokens.filename,
                tokens.dtype.str,
                tokens.offset,
                len(tokens),
            )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        tokens = state["tokens"]
        if isinstance(tokens, tuple) and tokens[0] == "memmap":
            _, filename, dtype, offset, n = tokens
            state["tokens"] = np.memmap(filename, np.dtype(dtype), "r", offset, shape=(n,))
        self.__dict__.update(state)


def _separator_at_or_after(tokens: np.ndarray, sep: int, lo: int, hi: int) -> int | None:
    window = 1 << 20  # scan a memory map piecewise, never all at once
    for start in range(lo, hi, window):
        hits = np.flatnonzero(tokens[start : min(start + window, hi)] == sep)
        if len(hits):
            return start + int(hits[0])
    return None


def _separator_before(tokens: np.ndarray, sep: int, hi: int) -> int | None:
    window = 1 << 20
    for stop in range(hi, 0, -window):
        hits = np.flatnonzero(tokens[max(stop - window, 0) : stop] == sep)
        if len(hits):
            return max(stop - window, 0) + int(hits[-1])
    return None


def document_cut(tokens: np.ndarray, sep: int, fraction: float) -> int:
    """A position near `fraction` of the stream that starts a document (just after a separator),
    with at least one token on either side: the first such position at or after the target,
    else the last one before it, else (a single document) the target itself."""
    n = len(tokens)
    target = min(max(int(round(n * fraction)), 1), n - 1)
    after = _separator_at_or_after(tokens, sep, target - 1, n - 1)  # not the stream's last one
    if after is not None:
        return after + 1
    before = _separator_before(tokens, sep, target - 1)
    return before + 1 if before is not None else target
