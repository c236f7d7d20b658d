"""Debian's fortunes as a text source: the corpus the tests and the text demo run on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from pretrainkit.data.digest import digest, file_stats
from pretrainkit.data.splits import check_split, stratified_split
from pretrainkit.data.text.readers import split_text
from pretrainkit.data.text.sources import LabeledTexts, TextSource
from pretrainkit.errors import BadValueError, MissingFileError

FORTUNES_ROOT = "/usr/share/games/fortunes"
# Topical categories with >= 548 entries each (cookie, people, ... are not topics).
DEFAULT_CATEGORIES = (
    "computers",
    "definitions",
    "men-women",
    "politics",
    "science",
    "songs-poems",
    "work",
    "zippy",
)


class Fortunes(TextSource):
    """Debian's `fortunes` package: ~15,000 quotes and jokes in 43 category files.

    Labeled: the entries of `categories`, class = position in that list, with a fixed stratified
    `test_fraction` held out by `split_seed`. `documents()`: every entry of every category
    (files sorted by name), less any text that is also a labeled test entry, so pretraining
    never reads a test text.
    """

    # The fix the config checks give when `root` does not exist ({key}: the setting).
    missing_hint = (
        "install Debian's `fortunes` (`sudo apt-get install fortunes`, or `make data`), or set "
        "{key}=<dir>"
    )

    def __init__(
        self,
        root: str = FORTUNES_ROOT,
        categories: Sequence[str] = DEFAULT_CATEGORIES,
        test_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> None:
        self.root = Path(root).expanduser()
        self.files = self._category_files()
        categories = list(categories)
        unknown = [c for c in categories if c not in self.files]
        if unknown:
            raise BadValueError(
                f"unknown fortune categories {unknown} in dataset.source.categories; the "
                f"available ones are: {', '.join(self.files)}."
            )
        if not categories or len(set(categories)) < len(categories):
            raise BadValueError(
                f"dataset.source.categories={categories} must name at least one category, "
                "each once."
            )
        if not 0 < test_fraction < 1:
            raise BadValueError(f"dataset.source.test_fraction={test_fraction} must be in (0, 1).")
        self.classes = categories
        self.test_fraction, self.split_seed = test_fraction, split_seed

    def _category_files(self) -> dict[str, Path]:
        files = (
            {
                p.name: p
                for p in sorted(self.root.iterdir())
                # *.dat are strfile indexes, *.u8 symlinks to the same files
                if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8")
            }
            if self.root.is_dir()
            else {}
        )
        if not files:
            raise MissingFileError(
                f"no fortune files in {self.root}: Debian's `fortunes` package is missing; "
                "install it (`sudo apt-get install fortunes`, or `make data`), or set "
                "dataset.source.root=<dir>."
            )
        return files

    def entries(self, category: str) -> list[str]:
        """The entries of one category file, stripped, empty ones dropped."""
        with open(self.files[category], encoding="utf-8", errors="replace") as f:
            return list(split_text(f, "percent"))

    @cached_property
    def _splits(self) -> dict[str, LabeledTexts]:
        texts, targets = [], []
        for i, category in enumerate(self.classes):
            entries = self.entries(category)
            texts += entries
            targets += [i] * len(entries)
        full = LabeledTexts(texts, np.asarray(targets))
        train, test = stratified_split(full.targets, self.test_fraction, self.split_seed)
        return {"train": full.subset(train), "test": full.subset(test)}

    def labeled(self, split: str) -> LabeledTexts:
        check_split(split)
        return self._splits[split]

    def documents(self) -> Iterator[str]:
        held_out = set(self._splits["test"].texts)  # by text: duplicates elsewhere go too
        corpus = [e for name in self.files for e in self.entries(name) if e not in held_out]
        # Files are one category each: a fixed shuffle (15k short texts fit in memory) keeps
        # the validation tail of the token stream from being a category or two of its own.
        order = np.random.default_rng(self.split_seed).permutation(len(corpus))
        return (corpus[i] for i in order)

    def fingerprint(self) -> str:
        return digest(
            "Fortunes",
            file_stats(self.files.values()),
            self.classes,
            self.test_fraction,
            self.split_seed,
        )
