"""Where text comes from. A source streams an unlabeled corpus for pretraining and returns
labeled train/test splits for fine-tuning, so one source serves both (as the image sources do).
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pretrainkit.data.sources import _check_split
from pretrainkit.data.splits import stratified_split
from pretrainkit.data.text_readers import (
    TextCheck,
    UndecodableTextError,
    check_reader_options,
    check_text_file,
    class_order,
    find_text_files,
    read_records,
    split_text,
)

log = logging.getLogger(__name__)
_HANDLED = {"replace": "replaced", "ignore": "dropped"}  # encoding_errors, said in a log line

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


@dataclass
class LabeledTexts:
    """One labeled split: texts and their class indices."""

    texts: list[str]
    targets: np.ndarray  # (N,) int64

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        if len(self.texts) != len(self.targets):
            raise ValueError(f"{len(self.texts)} texts but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int]) -> LabeledTexts:
        indices = np.asarray(list(indices), dtype=np.int64)
        return LabeledTexts([self.texts[i] for i in indices], self.targets[indices])


class TextSource(ABC):
    """A corpus of text: `documents()` for pretraining, `labeled(split)` for fine-tuning."""

    classes: list[str]

    @abstractmethod
    def documents(self) -> Iterator[str]:
        """The unlabeled corpus, one document at a time (never all in memory)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A short hex digest that changes when the corpus or the options shaping it change."""

    @abstractmethod
    def labeled(self, split: str) -> LabeledTexts:
        """The labeled "train" or "test" split."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _listed(paths: Sequence[Path], checks: dict[Path, TextCheck], n: int = 3) -> str:
    """The first `n` of `paths` with what their check found, and how many more there are."""
    listed = "; ".join(checks[p].describe(p) for p in paths[:n])
    return listed + (f"; and {len(paths) - n} more" if len(paths) > n else "")


def digest(*parts: Any) -> str:
    """16 hex digits of sha256 over `parts` written as JSON."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def file_stats(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of each file: changes whenever a file is edited, added or removed."""
    return [(str(p), (st := p.stat()).st_size, st.st_mtime_ns) for p in paths]


def _class_targets(names: Sequence[str], classes: list[str], where: Any) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise ValueError(
            f"labels {unknown[:5]} in {where} are not among the training classes {classes}."
        )
    return np.asarray([index[n] for n in names], dtype=np.int64)


def _held_out(
    targets: np.ndarray, classes: list[str], fraction: float, seed: int, where: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices with `fraction` of every class held out; each class needs two."""
    counts = np.bincount(targets, minlength=len(classes))
    if len(counts) and counts.min() < 2:
        name = classes[int(counts.argmin())]
        raise ValueError(
            f"class {name!r} has {counts.min()} example(s) in {where}; holding out "
            f"dataset.source.test_fraction={fraction} for testing needs at least 2 per class: "
            "add examples, drop the class, or set dataset.source.test_root."
        )
    return stratified_split(targets, fraction, seed)


class Fortunes(TextSource):
    """Debian's `fortunes` package: ~15,000 quotes and jokes in 43 category files.

    Labeled: the entries of `categories`, class = position in that list, with a fixed stratified
    `test_fraction` held out by `split_seed`. `documents()`: every entry of every category
    (files sorted by name), less any text that is also a labeled test entry, so pretraining
    never reads a test text.
    """

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
            raise ValueError(
                f"unknown fortune categories {unknown} in dataset.source.categories; the "
                f"available ones are: {', '.join(self.files)}."
            )
        if not categories or len(set(categories)) < len(categories):
            raise ValueError(
                f"dataset.source.categories={categories} must name at least one category, "
                "each once."
            )
        if not 0 < test_fraction < 1:
            raise ValueError(f"dataset.source.test_fraction={test_fraction} must be in (0, 1).")
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
            raise FileNotFoundError(
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
        _check_split(split)
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


class TextFiles(TextSource):
    """Text files of your own: a file, a directory (searched recursively for *.txt, *.jsonl and
    *.csv), or a glob.

    `.txt` files are cut into documents by `separator` ("line", "blank_line", "percent" or
    "file"); a `.jsonl` row or `.csv` row is one document, its `text_field`. `documents()` is
    every document under `root`. Labeled: either one subfolder per class (`root/<class>/...`,
    classes sorted by name), or .jsonl/.csv rows carrying `label_field`. The test split is the
    same layout under `test_root`, or else a fixed stratified `test_fraction` of `root`.

    Files are read as `encoding`. Before the first document, every file is checked once: empty
    ones are skipped (counted in a logged warning). Bytes `encoding` cannot decode are replaced
    (`encoding_errors="replace"`, logged) or, with `encoding_errors="strict"`, make the file bad:
    an error naming it with `on_bad_file="error"`, skipped and logged with `on_bad_file="skip"`.
    """

    def __init__(
        self,
        root: str,
        text_field: str = "text",
        label_field: str = "label",
        separator: str = "line",
        test_root: str | None = None,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        encoding_errors: str = "replace",
        encoding: str = "utf-8",
        on_bad_file: str = "error",
    ) -> None:
        check_reader_options(separator, encoding_errors, encoding, on_bad_file)
        if test_root is None and not 0 < test_fraction < 1:
            raise ValueError(
                f"dataset.source.test_fraction={test_fraction} must be in (0, 1) "
                "(or set dataset.source.test_root)."
            )
        self.root = Path(root).expanduser()
        self.test_root = Path(test_root).expanduser() if test_root else None
        self.text_field, self.label_field = text_field, label_field
        self.separator, self.encoding_errors = separator, encoding_errors
        self.encoding, self.on_bad_file = encoding, on_bad_file
        self.test_fraction, self.split_seed = test_fraction, split_seed
        self._checks: dict[Path, TextCheck] = {}  # each file's check, made once

    @cached_property
    def files(self) -> list[Path]:
        """The matching files, found on first use (constructing reads nothing)."""
        return find_text_files(self.root)

    def _usable(self, files: list[Path], where: Path) -> list[Path]:
        """`files` less the empty and (by the policy) undecodable ones; each file is checked
        once, and what its check finds is logged once."""
        new = [p for p in files if p not in self._checks]
        for path in new:
            self._checks[path] = check_text_file(path, self.encoding)
        strict = self.encoding_errors == "strict"
        undecodable = [p for p in files if self._checks[p].offset is not None]
        if undecodable and strict and self.on_bad_file == "error":
            check = self._checks[undecodable[0]]
            raise UndecodableTextError(
                f"{len(undecodable)} of {len(files)} text files under {where} are not valid "
                f"{self.encoding}: {_listed(undecodable, self._checks)}. Set "
                "dataset.source.encoding=<their encoding> (e.g. latin-1 or cp1252), "
                "dataset.source.encoding_errors=replace to replace undecodable bytes, or "
                "dataset.source.on_bad_file=skip to skip such files.",
                self.encoding,
                check.bad,
                check.reason,
            )
        usable = [
            p
            for p in files
            if self._checks[p].has_text and not (strict and self._checks[p].offset is not None)
        ]
        if not usable:
            raise ValueError(
                f"no non-empty documents in {where}: all {len(files)} text files are empty or "
                f"skipped ({_listed(files, self._checks)}); point dataset.source.root at text files."
            )
        self._log_found(new, len(files), where)
        return usable

    def _log_found(self, checked: list[Path], total: int, where: Path) -> None:
        """One warning for the empty files among `checked`, one for the undecodable ones."""
        if empty := [p for p in checked if not self._checks[p].has_text]:
            log.warning(
                "skipped %d empty text files under %s: %s",
                len(empty),
                where,
                _listed(empty, self._checks),
            )
        if bad := [p for p in checked if self._checks[p].offset is not None]:
            handled = _HANDLED.get(self.encoding_errors, "handled")
            log.warning(
                "%s %d of %d text files under %s that are not valid %s "
                "(dataset.source.encoding_errors=%s, on_bad_file=%s; "
                "dataset.source.encoding=<their encoding> reads them as they are): %s",
                "skipped"
                if self.encoding_errors == "strict"
                else f"{handled} undecodable bytes in",
                len(bad),
                total,
                where,
                self.encoding,
                self.encoding_errors,
                self.on_bad_file,
                _listed(bad, self._checks),
            )

    def _records(self, files: list[Path], where: Path) -> Iterator[tuple[str, str | None]]:
        for path in self._usable(files, where):
            yield from read_records(
                path,
                self.separator,
                self.text_field,
                self.label_field,
                self.encoding_errors,
                self.encoding,
            )

    def documents(self) -> Iterator[str]:
        if next(self._records(self.files, self.root), None) is None:  # checks, then reads one
            raise ValueError(
                f"no non-empty documents in {self.root} (separator={self.separator!r}, "
                f"text_field={self.text_field!r}); point dataset.source.root at text files."
            )
        return (text for text, _ in self._records(self.files, self.root))

    def fingerprint(self) -> str:
        test_files = find_text_files(self.test_root) if self.test_root else []
        options = (self.text_field, self.label_field, self.separator, self.encoding_errors)
        options += (self.encoding, self.on_bad_file)
        split = (str(self.test_root), self.test_fraction, self.split_seed)
        return digest("TextFiles", file_stats(self.files), file_stats(test_files), options, split)

    @staticmethod
    def _class_folders(folder: Path) -> list[str]:
        if not folder.is_dir():
            return []
        return sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name[0] != ".")

    def _label_column(self) -> bool:
        """Whether the first .jsonl/.csv row under root carries `label_field`."""
        usable = self._usable(self.files, self.root)
        tables = [p for p in usable if p.suffix.lower() in (".jsonl", ".csv")]
        if not tables:
            return False
        first = next(self._records(tables[:1], self.root), None)
        return first is not None and first[1] is not None

    def _read_labeled(self, folder: Path) -> tuple[list[str], list[str]]:
        """(texts, class names) under `folder`, in the layout `root` has."""
        texts, names = [], []
        self._usable(find_text_files(folder), folder)  # checks (and logs) the folder at once
        if self._class_folders(self.root):
            for name in self._class_folders(folder):
                for text, _ in self._records(find_text_files(folder / name), folder / name):
                    texts.append(text)
                    names.append(name)
            return texts, names
        for text, label in self._records(find_text_files(folder), folder):
            if label is None:
                raise ValueError(
                    f"a document under {folder} has no {self.label_field!r} label; give every "
                    "row one, or set dataset.source.label_field=<key>."
                )
            texts.append(text)
            names.append(label)
        return texts, names

    @cached_property
    def _labeled_root(self) -> tuple[list[str], list[str]]:
        if not self._class_folders(self.root) and not self._label_column():
            raise ValueError(
                f"{self.root} has no labels: lay it out as {self.root}/<class>/<files>, or use "
                f".jsonl/.csv rows with a {self.label_field!r} field "
                "(dataset.source.label_field=<key>)."
            )
        return self._read_labeled(self.root)

    @cached_property
    def classes(self) -> list[str]:  # type: ignore[override]
        if self._class_folders(self.root):
            return self._class_folders(self.root)
        return class_order(self._labeled_root[1]) if self._label_column() else []

    @cached_property
    def _splits(self) -> dict[str, LabeledTexts]:
        texts, names = self._labeled_root
        full = LabeledTexts(texts, _class_targets(names, self.classes, self.root))
        if self.test_root is not None:
            test_texts, test_names = self._read_labeled(self.test_root)
            test = LabeledTexts(
                test_texts, _class_targets(test_names, self.classes, self.test_root)
            )
            return {"train": full, "test": test}
        train, test = _held_out(
            full.targets, self.classes, self.test_fraction, self.split_seed, self.root
        )
        return {"train": full.subset(train), "test": full.subset(test)}

    def labeled(self, split: str) -> LabeledTexts:
        _check_split(split)
        return self._splits[split]


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            "HFDiskDataset needs the `datasets` package: pip install datasets"
        ) from err
    return datasets


class HFDiskDataset(TextSource):
    """A Hugging Face dataset saved with `save_to_disk` (a `DatasetDict`, or one `Dataset`).

    `documents()` streams the `split` rows' `text_field`; labeled train/test are `split` and
    `test_split`. A single `Dataset` has its test split made here: a fixed stratified 20% (seed
    0), which `documents()` then leaves out. Labels: a ClassLabel's names, else the sorted
    unique values of `label_field`; rows labeled -1 (ClassLabel's "no label") are skipped.
    """

    def __init__(
        self,
        path: str,
        split: str = "train",
        test_split: str = "test",
        text_field: str = "text",
        label_field: str = "label",
    ) -> None:
        self.path = Path(path).expanduser()
        self.split, self.test_split = split, test_split
        self.text_field, self.label_field = text_field, label_field

    @cached_property
    def _data(self) -> Any:
        datasets = _import_datasets()
        if not self.path.exists():
            raise FileNotFoundError(
                f"no dataset at {self.path}; save one with `dataset.save_to_disk(path)` and set "
                "dataset.source.path=<that dir>."
            )
        return datasets.load_from_disk(str(self.path))

    def _rows(self, split: str) -> Any:
        if not isinstance(self._data, _import_datasets().DatasetDict):
            return self._data
        if split not in self._data:
            raise ValueError(
                f"{self.path} has splits {list(self._data)}, not {split!r}; set "
                "dataset.source.split / dataset.source.test_split."
            )
        return self._data[split]

    def _check_column(self, rows: Any, field: str) -> None:
        if field not in rows.column_names:
            raise ValueError(
                f"{self.path} has no column {field!r} (it has {rows.column_names}); set "
                "dataset.source.text_field / dataset.source.label_field."
            )

    @cached_property
    def classes(self) -> list[str]:  # type: ignore[override]
        rows = self._rows(self.split)
        if self.label_field not in rows.column_names:
            return []
        feature = rows.features[self.label_field]
        if hasattr(feature, "names"):  # a ClassLabel
            return list(feature.names)
        return class_order(str(v) for v in rows[self.label_field] if v is not None)

    def _targets(self, rows: Any, split: str) -> np.ndarray:
        """Class indices of `rows`; -1 where a row has no label."""
        self._check_column(rows, self.label_field)
        if hasattr(rows.features[self.label_field], "names"):
            return np.asarray(list(rows[self.label_field]), dtype=np.int64)
        index = {name: i for i, name in enumerate(self.classes)}
        names = [None if v is None else str(v) for v in rows[self.label_field]]
        unknown = sorted({n for n in names if n is not None and n not in index})
        if unknown:
            raise ValueError(
                f"labels {unknown[:5]} of {self.path} [{split}] are not among the "
                f"{self.split!r} split's classes {self.classes}."
            )
        return np.asarray([-1 if n is None else index[n] for n in names], dtype=np.int64)

    def _is_single(self) -> bool:
        return not isinstance(self._data, _import_datasets().DatasetDict)

    @cached_property
    def _single_split(self) -> dict[str, np.ndarray]:
        """Train/test row indices of a single `Dataset` (one saved without splits)."""
        targets = self._targets(self._rows(self.split), self.split)
        labeled = np.flatnonzero(targets >= 0)
        train, test = _held_out(targets[labeled], self.classes, 0.2, 0, self.path)
        return {"train": labeled[train], "test": labeled[test]}

    def labeled(self, split: str) -> LabeledTexts:
        _check_split(split)
        name = self.split if split == "train" or self._is_single() else self.test_split
        rows = self._rows(name)
        self._check_column(rows, self.text_field)
        targets = self._targets(rows, name)
        idx = self._single_split[split] if self._is_single() else np.flatnonzero(targets >= 0)
        texts = ["" if t is None else str(t) for t in rows.select(idx)[self.text_field]]
        return LabeledTexts(texts, targets[idx])

    def documents(self) -> Iterator[str]:
        rows = self._rows(self.split)
        self._check_column(rows, self.text_field)
        if self._is_single() and self.classes:  # leave out the test rows made here
            rows = rows.select(np.setdiff1d(np.arange(len(rows)), self._single_split["test"]))
        return self._stream(rows.select_columns([self.text_field]))

    def _stream(self, rows: Any, batch_size: int = 1000) -> Iterator[str]:
        for batch in rows.iter(batch_size=batch_size):
            yield from (doc for t in batch[self.text_field] if t and (doc := str(t).strip()))

    def fingerprint(self) -> str:
        files = sorted(p for p in self.path.rglob("*") if p.is_file()) if self.path.exists() else []
        options = (self.split, self.test_split, self.text_field, self.label_field)
        return digest("HFDiskDataset", str(self.path), file_stats(files), options)
