"""The token cache: built once from real text, exact, reused without tokenising, shared safely."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.sources import LabeledTexts, TextSource
from pretrainkit.data.text.token_cache import token_cache


class Counting(TextSource):
    """A source that counts how often its corpus is read."""

    def __init__(self, inner: TextSource) -> None:
        self.inner, self.classes, self.reads = inner, inner.classes, 0

    def documents(self) -> Iterator[str]:
        self.reads += 1
        return self.inner.documents()

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def labeled(self, split: str) -> LabeledTexts:
        return self.inner.labeled(split)


@pytest.fixture
def source(tmp_path: Path, zippy: list[str]) -> Counting:
    path = tmp_path / "zippy.txt"
    path.write_text("\n%\n".join(zippy))
    return Counting(TextFiles(str(path), separator="percent"))


def test_the_stream_is_every_document_then_a_separator(source, wordpiece, tmp_path: Path):
    tokens = token_cache(source, wordpiece, tmp_path / "cache")
    docs = list(source.inner.documents())
    per_doc = wordpiece(docs, add_special_tokens=False)["input_ids"]
    expected = [t for ids in per_doc for t in [*ids, 3]]  # [SEP] = 3 after each document
    assert tokens.dtype == np.uint16 and isinstance(tokens, np.memmap)
    assert tokens.tolist() == expected
    assert len(tokens) == sum(map(len, per_doc)) + len(docs)
    (meta,) = (tmp_path / "cache").glob("tokens-*.json")
    info = json.loads(meta.read_text())
    assert info["n_tokens"] == len(expected) and info["n_documents"] == len(docs) == 60
    assert info["separator_id"] == 3 and info["dtype"] == "uint16"
    # ~2 bytes a token: the cache is no bigger than the ids themselves
    assert meta.with_suffix(".bin").stat().st_size == 2 * len(expected)


def test_a_second_call_reuses_the_file(source, wordpiece, bpe, tmp_path: Path):
    first = token_cache(source, wordpiece, tmp_path)
    (bin_path,) = tmp_path.glob("tokens-*.bin")
    mtime = bin_path.stat().st_mtime_ns
    second = token_cache(source, wordpiece, tmp_path)
    assert source.reads == 1 and bin_path.stat().st_mtime_ns == mtime
    assert np.array_equal(first, second)
    other = token_cache(source, bpe, tmp_path)  # another tokenizer: another cache
    assert source.reads == 2 and len(list(tmp_path.glob("tokens-*.bin"))) == 2
    assert other.tolist().count(0) == 60  # <|endoftext|> ends each document


def test_concurrent_callers_build_once(source, wordpiece, tmp_path: Path):
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(token_cache(source, wordpiece, tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert source.reads == 1 and len(results) == 3
    assert all(np.array_equal(r, results[0]) for r in results)
    assert not list(tmp_path.glob(".tokens-*"))  # no temporary file left behind


def test_special_token_text_stays_text_and_empty_documents_vanish(tmp_path: Path, wordpiece):
    path = tmp_path / "odd.txt"
    path.write_text("see [SEP] and [CLS] here\n\x01\x02\nnext line\n")  # line 2 normalizes to ""
    tokens = token_cache(TextFiles(str(path)), wordpiece, tmp_path / "cache").tolist()
    assert tokens.count(3) == 2 and tokens[-1] == 3 and 2 not in tokens
    assert wordpiece.decode(tokens[: tokens.index(3)]) == "see [ sep ] and [ cls ] here"


def test_no_tokens_is_an_error(tmp_path: Path, wordpiece):
    path = tmp_path / "control.txt"
    path.write_text("\x01\x02\n\x03\n")
    with pytest.raises(ValueError, match="no tokens"):
        token_cache(TextFiles(str(path)), wordpiece, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("tokens-*.bin"))
