"""A table as the networks see it: every row one float vector, numeric features standardised,
categorical ones as integer codes; and the statistics that make it, fitted on training rows only.

The encoding rule (documented in the README):
- numeric columns: minus the training rows' mean, over their standard deviation (1 where a column
  is constant); a missing value becomes 0, the training mean;
- categorical columns: code 0 for a missing value or a category the training rows never had,
  1..K for the K categories seen in training (in their sorted order);
- a row is [numeric features..., categorical codes...] as float32; a backbone reads the first
  `num_numeric` as numbers and embeds the rest (`Schema.cardinalities`, each K + 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Schema:
    """The columns a table's rows hold, in order: numeric ones, then categorical ones."""

    numeric: list[str]
    categorical: list[str]
    categories: list[list[str]] = field(default_factory=list)  # per categorical column, sorted

    @property
    def num_numeric(self) -> int:
        return len(self.numeric)

    @property
    def cardinalities(self) -> list[int]:
        """Codes per categorical column: its categories and 0, missing or unseen."""
        return [len(c) + 1 for c in self.categories]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def backbone_kwargs(self) -> dict[str, Any]:
        """What a tabular backbone needs to read these rows."""
        return {"num_numeric": self.num_numeric, "cardinalities": self.cardinalities}


@dataclass
class RawTable:
    """Rows as read, before any statistics: numeric values (NaN where missing) and each
    categorical value as a string (None where missing); `targets` are class indices (-1 when
    unlabeled)."""

    numeric: np.ndarray  # (N, n_num) float64
    categorical: list[np.ndarray]  # n_cat arrays of (N,) object: str or None
    targets: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, indices: np.ndarray) -> RawTable:
        return RawTable(
            self.numeric[indices], [c[indices] for c in self.categorical], self.targets[indices]
        )


class Preprocessor:
    """Standardisation and category codes, fitted on training rows (`fit`) and applied to any
    rows (`encode`). Fit it on the training split only: test rows must not shape the scaling."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.mean = np.zeros(schema.num_numeric)
        self.std = np.ones(schema.num_numeric)
        self.fitted = False

    def fit(self, table: RawTable) -> Preprocessor:
        numeric = table.numeric
        with np.errstate(all="ignore"):
            present = ~np.isnan(numeric)
            count = present.sum(axis=0)
            mean = np.where(count > 0, np.nansum(numeric, axis=0) / np.maximum(count, 1), 0.0)
            var = np.nansum((numeric - mean) ** 2, axis=0) / np.maximum(count, 1)
        std = np.sqrt(var)
        self.mean, self.std = mean, np.where(std > 1e-12, std, 1.0)
        self.fitted = True
        return self

    def encode(self, table: RawTable) -> Rows:
        if not self.fitted:
            raise RuntimeError("Preprocessor.encode before fit")
        missing = np.isnan(table.numeric)
        numeric = np.where(missing, 0.0, (table.numeric - self.mean) / self.std)
        codes = [
            _codes(column, categories)
            for column, categories in zip(table.categorical, self.schema.categories, strict=True)
        ]
        cat = np.stack(codes, axis=1) if codes else np.zeros((len(table), 0))
        x = np.concatenate([numeric, cat], axis=1).astype(np.float32)
        return Rows(torch.from_numpy(x), missing, table.targets, self.schema)


def _codes(column: np.ndarray, categories: list[str]) -> np.ndarray:
    lookup = {c: i + 1 for i, c in enumerate(categories)}
    return np.fromiter((lookup.get(v, 0) for v in column), dtype=np.float64, count=len(column))


def categories_of(column: np.ndarray) -> list[str]:
    """The distinct non-missing values of a categorical column, numbers in numeric order
    ('2' before '10': R's ordered factors of counts keep their order), then text sorted."""
    return sorted({v for v in column if v is not None}, key=_natural)


def _natural(value: str) -> tuple[float, str]:
    try:
        return float(value), value
    except ValueError:
        return float("inf"), value


class Rows(Dataset):
    """Encoded rows: `x` (N, F) float32 as in the module docstring, `missing` (N, n_num) where
    a numeric value was missing, `targets` (N,) class indices (-1: unlabeled). Items are
    `(row, target)`."""

    def __init__(
        self, x: torch.Tensor, missing: np.ndarray, targets: np.ndarray, schema: Schema
    ) -> None:
        self.x, self.missing, self.schema = x, missing, schema
        self.targets = np.asarray(targets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.targets[i])

    def subset(self, indices: np.ndarray) -> Rows:
        indices = np.asarray(indices, dtype=np.int64)
        return Rows(self.x[indices], self.missing[indices], self.targets[indices], self.schema)

    def numeric_with_nan(self) -> np.ndarray:
        """The standardised numeric features with NaN where a value was missing (for models
        that handle missing values themselves, such as gradient-boosted trees)."""
        numeric = self.x[:, : self.schema.num_numeric].numpy().astype(np.float64)
        return np.where(self.missing, np.nan, numeric)

    def categorical_codes(self) -> np.ndarray:
        """(N, n_cat) int64 category codes (0: missing or unseen)."""
        return self.x[:, self.schema.num_numeric :].numpy().astype(np.int64)
