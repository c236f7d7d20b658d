"""Where tables come from. A source reads data frames (its `frames()`: the labeled train and
test splits, and optionally extra unlabeled rows), and the base class does the rest the same
way for every source: which columns are numeric or categorical (declared, or inferred from the
types), the class names, and the encoding statistics, fitted on training rows only
(`table.Preprocessor`). Sources: `mlbench.MLBench` (R's mlbench tables) and `files.TableFiles`
(the user's CSV / Parquet)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from pretrainkit.data.splits import check_split
from pretrainkit.data.tabular.table import (
    Preprocessor,
    RawTable,
    Rows,
    Schema,
    categories_of,
)
from pretrainkit.data.text.sources import held_out
from pretrainkit.errors import BadValueError

log = logging.getLogger(__name__)


class Frames:
    """What a source reads: the labeled `train` frame, the `test` frame (None: a stratified
    share of train is held out) and `unlabeled` rows without labels (None: none)."""

    def __init__(self, train: Any, test: Any | None = None, unlabeled: Any | None = None) -> None:
        self.train, self.test, self.unlabeled = train, test, unlabeled


class TabularSource(ABC):
    """Rows of a table: `unlabeled()` for pretraining, `labeled(split)` for fine-tuning.

    Args:
        label: the column holding the class.
        categorical: columns to read as categories; None infers them (text, boolean and
            category types are categorical, numbers numeric).
        numeric: columns to read as numbers; None: every other feature column.
        drop: columns to ignore (identifiers, leaks).
        test_fraction, split_seed: without a test file, this share of every class is held
            out, with this seed, as the test split (the same for every run).
    """

    def __init__(
        self,
        label: str,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        test_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> None:
        if not 0 < test_fraction < 1:
            raise BadValueError(f"dataset.source.test_fraction={test_fraction} must be in (0, 1).")
        self.label = label
        self.categorical = None if categorical is None else list(categorical)
        self.numeric = None if numeric is None else list(numeric)
        self.drop = list(drop)
        self.test_fraction, self.split_seed = test_fraction, split_seed

    @abstractmethod
    def frames(self) -> Frames:
        """The data frames to read (pandas)."""

    @property
    def where(self) -> str:
        """How the messages name this source."""
        return type(self).__name__

    @cached_property
    def _data(self) -> dict[str, Any]:
        frames = self.frames()
        train = self._labeled_frame(frames.train, "train")
        test = None if frames.test is None else self._labeled_frame(frames.test, "test")
        numeric, categorical = self._columns(train)  # from the column types, not the values
        classes = sorted(str(v) for v in train[self.label].unique())
        train_raw = _raw(train, numeric, categorical, self._targets(train, classes, "train"))
        if test is None:
            fit, hold = held_out(
                train_raw.targets, classes, self.test_fraction, self.split_seed, self.where
            )
            train_raw, test_raw = train_raw.subset(fit), train_raw.subset(hold)
        else:
            test_raw = _raw(test, numeric, categorical, self._targets(test, classes, "test"))
        pool = train_raw
        for name, frame in (("test", test), ("unlabeled", frames.unlabeled)):
            lacking = [c for c in numeric + categorical if frame is not None and c not in frame]
            if lacking:
                raise BadValueError(
                    f"{self.where}: the {name} rows lack the feature column(s) "
                    f"{', '.join(map(repr, lacking))} that the training rows have."
                )
        if frames.unlabeled is not None:
            none = np.full(len(frames.unlabeled), -1)
            pool = _stack(train_raw, _raw(frames.unlabeled, numeric, categorical, none))
        unlabeled = RawTable(pool.numeric, pool.categorical, np.full(len(pool), -1))
        # categories and scaling from training rows only: a test row shapes nothing
        schema = Schema(numeric, categorical, [categories_of(c) for c in pool.categorical])
        preprocessor = Preprocessor(schema).fit(unlabeled)
        return {
            "schema": schema,
            "classes": classes,
            "preprocessor": preprocessor,
            "unlabeled": preprocessor.encode(unlabeled),
            "train": preprocessor.encode(train_raw),
            "test": preprocessor.encode(test_raw),
        }

    @property
    def schema(self) -> Schema:
        return self._data["schema"]

    @property
    def classes(self) -> list[str]:  # type: ignore[override]
        return self._data["classes"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def preprocessor(self) -> Preprocessor:
        return self._data["preprocessor"]

    def unlabeled(self) -> Rows:
        """Every training row (and the extra unlabeled ones), labels -1: never a test row."""
        return self._data["unlabeled"]

    def labeled(self, split: str) -> Rows:
        check_split(split)
        return self._data[split]

    def _labeled_frame(self, frame: Any, split: str) -> Any:
        if self.label not in frame.columns:
            raise BadValueError(
                f"{self.where}: no label column dataset.source.label={self.label!r} in the "
                f"{split} rows; its columns: {', '.join(map(str, frame.columns))}."
            )
        missing = frame[self.label].isna()
        if missing.any():
            log.info("%s: %d %s rows without a label dropped", self.where, missing.sum(), split)
            frame = frame[~missing]
        if len(frame) == 0:
            raise BadValueError(f"{self.where}: the {split} rows have no labeled row.")
        return frame

    def _targets(self, frame: Any, classes: list[str], split: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(classes)}
        values = [str(v) for v in frame[self.label]]
        unknown = sorted({v for v in values if v not in index})
        if unknown:
            raise BadValueError(
                f"{self.where}: the {split} rows have classes the training rows lack: "
                f"{', '.join(unknown[:5])}; add training rows of them or drop those rows."
            )
        return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))

    def _columns(self, frame: Any) -> tuple[list[str], list[str]]:
        """The numeric and the categorical feature columns."""
        columns = [str(c) for c in frame.columns]
        for key, names in (
            ("categorical", self.categorical),
            ("numeric", self.numeric),
            ("drop", self.drop),
        ):
            unknown = [n for n in names or [] if n not in columns]
            if unknown:
                raise BadValueError(
                    f"dataset.source.{key} names {', '.join(map(repr, unknown))}, not a column "
                    f"of {self.where}; its columns: {', '.join(columns)}."
                )
        features = [c for c in columns if c != self.label and c not in self.drop]
        if self.categorical is not None:
            categorical = [c for c in features if c in self.categorical]
        else:
            declared = self.numeric or []
            categorical = [c for c in features if not _is_number(frame[c]) and c not in declared]
        if self.numeric is not None:
            numeric = [c for c in features if c in self.numeric and c not in categorical]
        else:
            numeric = [c for c in features if c not in categorical]
        for name in numeric:
            if not _is_number(frame[name]):
                raise BadValueError(
                    f"{self.where}: column {name!r} is declared numeric but holds "
                    f"{frame[name].dtype} values; list it in dataset.source.categorical."
                )
        if not numeric and not categorical:
            raise BadValueError(f"{self.where}: no feature columns besides {self.label!r}.")
        return numeric, categorical


def _is_number(series: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _strings(series: Any) -> np.ndarray:
    """A column's values as strings (None where missing)."""
    values = series.astype(object).to_numpy()
    missing = series.isna().to_numpy()
    return np.array([None if m else str(v) for v, m in zip(values, missing, strict=True)], object)


def _raw(frame: Any, numeric: list[str], categorical: list[str], targets: np.ndarray) -> RawTable:
    values = (
        frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        if numeric
        else np.zeros((len(frame), 0))
    )
    return RawTable(values, [_strings(frame[c]) for c in categorical], targets)


def _stack(a: RawTable, b: RawTable) -> RawTable:
    return RawTable(
        np.concatenate([a.numeric, b.numeric]),
        [np.concatenate([x, y]) for x, y in zip(a.categorical, b.categorical, strict=True)],
        np.concatenate([a.targets, b.targets]),
    )
