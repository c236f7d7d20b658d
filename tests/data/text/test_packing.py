"""Packing real token streams into blocks: nothing lost, nothing repeated, lazily read."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.packing import PackedBlocks, document_cut
from pretrainkit.data.text.token_cache import token_cache


@pytest.fixture
def stream(tmp_path: Path, zippy: list[str], wordpiece) -> np.memmap:
    path = tmp_path / "zippy.txt"
    path.write_text("\n%\n".join(zippy))
    return token_cache(TextFiles(str(path), separator="percent"), wordpiece, tmp_path / "cache")


def blocks_of(dataset: PackedBlocks) -> list[dict[str, torch.Tensor]]:
    return [dataset[i] for i in range(len(dataset))]


@pytest.mark.parametrize("block_size", [16, 37])
def test_blocks_with_cls_give_back_the_stream(stream: np.memmap, block_size: int):
    cls, sep, pad = 2, 3, 0
    dataset = PackedBlocks(stream, block_size, prefix_id=cls, pad_id=pad)
    blocks = blocks_of(dataset)
    assert len(dataset) == -(-len(stream) // (block_size - 1))
    rebuilt = []
    for b in blocks:
        ids, mask = b["input_ids"], b["attention_mask"]
        assert ids.shape == mask.shape == (block_size,) and ids.dtype == mask.dtype == torch.long
        assert ids[0] == cls and (ids == cls).sum() == 1  # one [CLS], at the start
        rebuilt += ids[1 : int(mask.sum())].tolist()
        real = ids[mask.bool()]
        assert not ((real[1:] == sep) & (real[:-1] == sep)).any()  # no doubled separators
    assert rebuilt == stream.tolist()  # every token once, in order
    last = blocks[-1]
    n_last = len(stream) - (len(dataset) - 1) * (block_size - 1) + 1
    assert last["attention_mask"].tolist() == [1] * n_last + [0] * (block_size - n_last)
    assert (last["input_ids"][n_last:] == pad).all() and n_last < block_size
    assert all(b["attention_mask"].all() for b in blocks[:-1])


def test_blocks_without_prefix_over_a_range(stream: np.memmap):
    start, stop = 100, 500
    dataset = PackedBlocks(stream, 64, prefix_id=None, pad_id=1, start=start, stop=stop)
    assert len(dataset) == 7  # ceil(400 / 64)
    ids = torch.cat([b["input_ids"][b["attention_mask"].bool()] for b in blocks_of(dataset)])
    assert ids.tolist() == stream[start:stop].tolist()
    assert dataset[-1]["input_ids"].tolist() == dataset[6]["input_ids"].tolist()
    with pytest.raises(IndexError):
        dataset[7]


def test_block_size_limits(stream: np.memmap):
    with pytest.raises(ValueError, match="data.block_size=1 must be >= 2"):
        PackedBlocks(stream, 1, prefix_id=2, pad_id=0)
    with pytest.raises(ValueError, match="data.block_size=0 must be >= 1"):
        PackedBlocks(stream, 0, prefix_id=None, pad_id=0)
    assert len(PackedBlocks(stream, 1, prefix_id=None, pad_id=0)) == len(stream)


def test_pickling_maps_the_file_again(stream: np.memmap):
    dataset = PackedBlocks(stream, 32, prefix_id=2, pad_id=0)
    payload = pickle.dumps(dataset)
    assert len(payload) < 1000 < stream.nbytes  # the file name travels, not the ids
    copy = pickle.loads(payload)
    assert isinstance(copy.tokens, np.memmap) and len(copy) == len(dataset)
    assert all(torch.equal(copy[i]["input_ids"], dataset[i]["input_ids"]) for i in range(len(copy)))


def test_document_cut_lands_after_a_separator():
    sep = 9
    tokens = np.array([5, 5, 9, 6, 6, 6, 6, 9, 7, 9])  # documents end at 2, 7 and 9
    assert document_cut(tokens, sep, 0.5) == 8  # first document start at or after position 5
    assert document_cut(tokens, sep, 0.9) == 8  # never the stream's end: val gets a document
    assert document_cut(tokens, sep, 0.1) == 3
    assert document_cut(np.array([5, 5, 5, 9]), sep, 0.5) == 2  # one document: cut inside
