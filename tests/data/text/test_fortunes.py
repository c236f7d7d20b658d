"""Fortunes reads the real corpus, keeps its test texts out of pretraining, and fails clearly."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pretrainkit.data.text.fortunes import DEFAULT_CATEGORIES, FORTUNES_ROOT, Fortunes


def strfile_count(category: str) -> int:
    """The entry count Debian's strfile wrote into the category's .dat index."""
    header = (Path(FORTUNES_ROOT) / f"{category}.dat").read_bytes()[:8]
    return struct.unpack(">II", header)[1]


def test_fortunes_classes_and_stratified_test_split(fortunes: Fortunes):
    train, test = fortunes.labeled("train"), fortunes.labeled("test")
    assert fortunes.classes == list(DEFAULT_CATEGORIES) and fortunes.num_classes == 8
    counts = np.bincount(train.targets, minlength=8) + np.bincount(test.targets, minlength=8)
    assert counts.tolist() == [strfile_count(c) for c in DEFAULT_CATEGORIES]
    assert counts.tolist() == [1051, 1203, 582, 703, 625, 720, 630, 548]
    assert np.bincount(test.targets).tolist() == [round(0.2 * n) for n in counts]
    assert train.targets.dtype == np.int64 and len(train.texts) == len(train)
    assert np.array_equal(Fortunes().labeled("test").targets, test.targets)  # fixed split
    assert "%" not in {t.strip() for t in train.texts} and all(t == t.strip() for t in train.texts)


def test_fortunes_documents_are_every_category_less_the_test_texts(fortunes: Fortunes):
    docs = list(fortunes.documents())
    test = set(fortunes.labeled("test").texts)
    assert not test & set(docs)  # no test text is pretrained on, not even a duplicate
    # every train text is, but for 2 that are test texts too (cross-category duplicates)
    assert len(set(fortunes.labeled("train").texts) - set(docs)) == 2
    every = [e for name in fortunes.files for e in fortunes.entries(name)]
    assert len(fortunes.files) == 43 and len(every) == sum(map(strfile_count, fortunes.files))
    # all 43 files, shuffled with split_seed so no category forms the stream's validation tail
    assert sorted(docs) == sorted(e for e in every if e not in test) and docs != sorted(docs)
    assert docs == list(fortunes.documents())  # the same order every time
    assert fortunes.entries("cookie")[0] in docs  # categories outside the labels count too


def test_fortunes_errors_say_what_to_do(tmp_path: Path, fortunes: Fortunes):
    with pytest.raises(FileNotFoundError, match="fortunes. package is missing.*make data"):
        Fortunes(root=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown fortune categories \['jokes'\].*computers"):
        Fortunes(categories=["computers", "jokes"])
    with pytest.raises(ValueError, match="split='val'"):
        fortunes.labeled("val")


def test_fortunes_fingerprint_follows_the_options(fortunes: Fortunes):
    assert fortunes.fingerprint() == Fortunes().fingerprint()
    assert fortunes.fingerprint() != Fortunes(split_seed=1).fingerprint()
    assert fortunes.fingerprint() != Fortunes(categories=["zippy", "work"]).fingerprint()
