"""Tokenizers trained on fortunes: fixed special ids, round trips, determinism, loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from pretrainkit.data.text.fortunes import Fortunes
from pretrainkit.data.text.tokenizer import (
    document_separator_id,
    is_continuation_table,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

TEXT = "Real programmers don't comment their code. It was hard to write; it should be hard to read!"


def test_wordpiece_special_ids_and_cls_sep_template(wordpiece: PreTrainedTokenizerFast):
    ids = {
        t: wordpiece.convert_tokens_to_ids(t)
        for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    }
    assert list(ids.values()) == [0, 1, 2, 3, 4] and len(wordpiece) == 2000
    assert (wordpiece.pad_token_id, wordpiece.cls_token_id, wordpiece.mask_token_id) == (0, 2, 4)
    encoded = wordpiece(TEXT)["input_ids"]
    assert encoded[0] == 2 and encoded[-1] == 3 and 1 not in encoded  # [CLS] ... [SEP], no [UNK]
    assert wordpiece(TEXT, add_special_tokens=False)["input_ids"] == encoded[1:-1]
    assert document_separator_id(wordpiece) == 3


def test_wordpiece_round_trip_is_the_lowercased_text(wordpiece, fortunes: Fortunes):
    for text in [TEXT, *fortunes.entries("computers")[:50]]:
        ids = wordpiece(text, add_special_tokens=False)["input_ids"]
        decoded = wordpiece.decode(ids)
        assert "".join(decoded.split()) == "".join(text.lower().split()), text


def test_bpe_special_ids_and_exact_round_trip(bpe: PreTrainedTokenizerFast, fortunes: Fortunes):
    assert bpe.convert_tokens_to_ids(["<|endoftext|>", "<|pad|>"]) == [0, 1]
    assert (bpe.eos_token_id, bpe.bos_token_id, bpe.pad_token_id) == (0, 0, 1)
    assert bpe.cls_token_id is None and document_separator_id(bpe) == 0
    for text in [TEXT, "naïve café 😀 — ünïcödé", *fortunes.entries("zippy")[:50]]:
        ids = bpe(text)["input_ids"]
        assert 0 not in ids and 1 not in ids  # nothing added, nothing unknown
        assert bpe.decode(ids) == text


def test_training_is_deterministic(fortunes: Fortunes, wordpiece, bpe):
    # WordPiece's trainer numbers "##x" pieces in hash-map order: without the fix in
    # train_tokenizer two runs in one process learn different vocabularies.
    again = train_tokenizer(fortunes.documents, "wordpiece", vocab_size=2000)
    assert again.backend_tokenizer.to_str() == wordpiece.backend_tokenizer.to_str()
    again = train_tokenizer(fortunes.documents, "bpe", vocab_size=2000, lowercase=False)
    assert again.backend_tokenizer.to_str() == bpe.backend_tokenizer.to_str()


def test_a_one_shot_iterator_trains_the_same_tokenizer(zippy: list[str]):
    from_list = train_tokenizer(zippy, vocab_size=300, min_frequency=1)
    from_generator = train_tokenizer((t for t in zippy), vocab_size=300, min_frequency=1)
    assert from_generator.backend_tokenizer.to_str() == from_list.backend_tokenizer.to_str()
    assert len(from_list) == 300


def test_invalid_kind():
    with pytest.raises(ValueError, match="kind='sentencepiece'.*wordpiece \\| bpe"):
        train_tokenizer(["a b c"], kind="sentencepiece")


def assert_same(a: PreTrainedTokenizerFast, b: PreTrainedTokenizerFast) -> None:
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert a(TEXT)["input_ids"] == b(TEXT)["input_ids"]
    assert (a.pad_token_id, a.sep_token_id, a.eos_token_id) == (
        b.pad_token_id,
        b.sep_token_id,
        b.eos_token_id,
    )


def test_saved_tokenizers_load_with_auto_tokenizer(wordpiece, bpe, tmp_path: Path):
    for tok in (wordpiece, bpe):
        tok.save_pretrained(tmp_path / "saved")
        assert_same(AutoTokenizer.from_pretrained(tmp_path / "saved"), tok)
        assert_same(load_tokenizer(tmp_path / "saved"), tok)


def test_load_tokenizer_finds_it_in_a_run_or_a_bare_file(wordpiece, bpe, tmp_path: Path):
    run = tmp_path / "run"
    save_tokenizer(wordpiece, run / "tokenizer")
    (run / "backbone.safetensors").write_bytes(b"weights")
    assert_same(load_tokenizer(run), wordpiece)
    assert_same(load_tokenizer(run / "backbone.safetensors"), wordpiece)  # pretrained=<file>
    assert_same(load_tokenizer(run / "tokenizer/tokenizer.json"), wordpiece)
    for tok in (wordpiece, bpe):  # a lone tokenizer.json: special tokens found by name
        bare = tmp_path / "bare.json"
        tok.backend_tokenizer.save(str(bare))
        assert_same(load_tokenizer(bare), tok)
    shutil.rmtree(run / "tokenizer")
    with pytest.raises(FileNotFoundError, match="no tokenizer at .*run.*tokenizer.json"):
        load_tokenizer(run)


def test_continuation_tables(wordpiece, bpe):
    table = is_continuation_table(wordpiece)
    assert table.shape == (2000,) and not table[:5].any()
    vocab = wordpiece.get_vocab()
    assert all(table[i] == t.startswith("##") for t, i in vocab.items())
    pieces = wordpiece.tokenize("incomprehensibility")
    assert len(pieces) > 1
    assert table[wordpiece.convert_tokens_to_ids(pieces)].tolist() == [False] + [True] * (
        len(pieces) - 1
    )

    table = is_continuation_table(bpe)
    assert not table[:2].any()  # specials
    ids = bpe(" incomprehensibility of programmers")["input_ids"]
    starts = [bpe.convert_ids_to_tokens(i).startswith("Ġ") for i in ids]
    assert table[ids].tolist() == [not s for s in starts] and starts.count(True) == 3
