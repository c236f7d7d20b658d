"""Text fixtures: Debian's fortunes, and tokenizers trained on it once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from pretrainkit.data.text.fortunes import FORTUNES_ROOT, Fortunes
from pretrainkit.data.text.tokenizer import save_tokenizer, train_tokenizer


@pytest.fixture(scope="session")
def fortunes() -> Fortunes:
    """The real corpus; skipped without Debian's fortunes locally, a failure in CI."""
    if not (Path(FORTUNES_ROOT) / "computers").is_file():
        if os.environ.get("CI"):
            pytest.fail("fortunes is missing in CI: .ci/run should have run `make data`.")
        pytest.skip("Debian's fortunes is not installed (make data)")
    return Fortunes()


@pytest.fixture(scope="session")
def wordpiece(fortunes: Fortunes) -> PreTrainedTokenizerFast:
    return train_tokenizer(fortunes.documents, "wordpiece", vocab_size=2000)


@pytest.fixture(scope="session")
def bpe(fortunes: Fortunes) -> PreTrainedTokenizerFast:
    """Byte-level BPE, case kept (GPT-2 style): decoding gives back the exact text."""
    return train_tokenizer(fortunes.documents, "bpe", vocab_size=2000, lowercase=False)


@pytest.fixture(scope="session")
def wordpiece_dir(wordpiece: PreTrainedTokenizerFast, tmp_path_factory) -> Path:
    return save_tokenizer(wordpiece, tmp_path_factory.mktemp("wordpiece") / "tokenizer")


@pytest.fixture
def zippy(fortunes: Fortunes) -> list[str]:
    """60 real entries: a small corpus for tests that tokenise it themselves."""
    return fortunes.entries("zippy")[:60]
