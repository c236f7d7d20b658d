"""A Hugging Face dataset saved to disk as a text source (needs the `datasets` package)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pretrainkit.data.digest import digest, file_stats
from pretrainkit.data.splits import check_split
from pretrainkit.data.text.readers import class_order
from pretrainkit.data.text.sources import LabeledTexts, TextSource, held_out
from pretrainkit.errors import BadValueError, MissingFileError


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
            raise MissingFileError(
                f"no dataset at {self.path}; save one with `dataset.save_to_disk(path)` and set "
                "dataset.source.path=<that dir>."
            )
        return datasets.load_from_disk(str(self.path))

    def _rows(self, split: str) -> Any:
        if not isinstance(self._data, _import_datasets().DatasetDict):
            return self._data
        if split not in self._data:
            raise BadValueError(
                f"{self.path} has splits {list(self._data)}, not {split!r}; set "
                "dataset.source.split / dataset.source.test_split."
            )
        return self._data[split]

    def _check_column(self, rows: Any, field: str) -> None:
        if field not in rows.column_names:
            raise BadValueError(
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
            raise BadValueError(
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
        train, test = held_out(targets[labeled], self.classes, 0.2, 0, self.path)
        return {"train": labeled[train], "test": labeled[test]}

    def labeled(self, split: str) -> LabeledTexts:
        check_split(split)
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
