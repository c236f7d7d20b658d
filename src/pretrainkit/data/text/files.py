"""Text files of your own as a text source: plain text, JSON lines or CSV, every file checked
once before use."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pretrainkit.data.digest import digest, file_stats
from pretrainkit.data.splits import check_split
from pretrainkit.data.text.readers import (
    TextCheck,
    UndecodableTextError,
    check_reader_options,
    check_text_file,
    class_order,
    find_text_files,
    read_records,
)
from pretrainkit.data.text.sources import LabeledTexts, TextSource, held_out
from pretrainkit.errors import BadValueError

log = logging.getLogger(__name__)
_HANDLED = {"replace": "replaced", "ignore": "dropped"}  # encoding_errors, said in a log line


def _listed(paths: Sequence[Path], checks: dict[Path, TextCheck], n: int = 3) -> str:
    """The first `n` of `paths` with what their check found, and how many more there are."""
    listed = "; ".join(checks[p].describe(p) for p in paths[:n])
    return listed + (f"; and {len(paths) - n} more" if len(paths) > n else "")


def _class_targets(names: Sequence[str], classes: list[str], where: Any) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise BadValueError(
            f"labels {unknown[:5]} in {where} are not among the training classes {classes}."
        )
    return np.asarray([index[n] for n in names], dtype=np.int64)


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
            raise BadValueError(
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
            raise BadValueError(
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
            raise BadValueError(
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
                raise BadValueError(
                    f"a document under {folder} has no {self.label_field!r} label; give every "
                    "row one, or set dataset.source.label_field=<key>."
                )
            texts.append(text)
            names.append(label)
        return texts, names

    @cached_property
    def _labeled_root(self) -> tuple[list[str], list[str]]:
        if not self._class_folders(self.root) and not self._label_column():
            raise BadValueError(
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
        train, test = held_out(
            full.targets, self.classes, self.test_fraction, self.split_seed, self.root
        )
        return {"train": full.subset(train), "test": full.subset(test)}

    def labeled(self, split: str) -> LabeledTexts:
        check_split(split)
        return self._splits[split]
