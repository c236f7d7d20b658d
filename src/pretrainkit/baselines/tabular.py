"""Classical baselines for tables: gradient-boosted trees and a logistic regression, the two
floors tabular practitioners trust. Both read the rows `pretrainkit.data.tabular` encodes (numeric
columns standardised on the training rows, categorical ones as codes, 0: missing or unseen) and
fit on the labeled subset only; the validation split chooses their settings.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np

from pretrainkit.baselines.base import ClassicalBaseline, Fitted, check_grid
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError

# HistGradientBoosting bins a categorical column per category and refuses more than its
# `max_bins` (255, its default and most) categories; such columns are read as ordered codes.
MAX_BINS = 255
CATEGORICAL_MODES = ("native", "ordinal")


class TabularBaseline(ClassicalBaseline):
    """What the tabular baselines share: they read a split's numeric features (NaN where a value
    was missing) and its category codes as one matrix, and learn the table's layout (which
    columns are categorical, their cardinalities) from the train split when they fit."""

    modality = "tabular"
    features = "raw"

    def __init__(self, threads: Annotated[int, Range(ge=1, example="1")] | None = 1) -> None:
        super().__init__(threads)
        self.schema: Any = None  # the train split's `Schema`, set by `fit`

    def fit(self, splits: Mapping[str, Any], num_classes: int) -> Fitted:
        self.schema = splits["train"].schema
        with warnings.catch_warnings():
            # a row or two per class is the point at 1% of the labels, not a regression target
            warnings.filterwarnings("ignore", "The number of unique classes is greater than 50%")
            return super().fit(splits, num_classes)

    def inputs(self, split: Any) -> np.ndarray:
        """(N, n_num + n_cat) float64: the standardised numeric features with NaN where a value
        was missing, then the category codes."""
        return np.hstack([split.numeric_with_nan(), split.categorical_codes().astype(np.float64)])

    def _columns(self) -> tuple[list[int], list[int]]:
        """The indices of the numeric and of the categorical columns of `inputs`."""
        if self.schema is None:
            raise RuntimeError(f"{type(self).__name__}.build before fit: the table is not known")
        n_num, n_cat = self.schema.num_numeric, len(self.schema.categorical)
        return list(range(n_num)), list(range(n_num, n_num + n_cat))


class GradientBoostedTrees(TabularBaseline):
    """Histogram gradient-boosted trees (scikit-learn's `HistGradientBoostingClassifier`, after
    LightGBM; Ke et al., 2017): the classical model to beat on tables (Grinsztajn et al., 2022,
    "Why do tree-based models still outperform deep learning on tabular data?"). Missing numeric
    values stay NaN: each split learns which side they go to.

    Categorical columns are read one of two ways, chosen on validation: `native` declares them
    categorical (a split groups any categories), `ordinal` reads their codes as numbers. Native
    splits ignore a category seen in fewer than 10 rows of a node (scikit-learn's fixed
    MIN_CAT_SUPPORT), so with a few labeled rows per class they cannot split at all: on mlbench's
    Soybean at 1% of the labels native trees predict one class (2% accuracy), ordinal ones 63%.

    There is no internal early stopping: scikit-learn's would hold out a further share of the
    few labeled rows and stop on it; here the number of rounds is fixed (`max_iter`) and the
    settings are chosen on the validation split every baseline and fine-tune shares.

    Args:
        learning_rate: shrinkage of each round's trees, to choose from on validation.
        max_leaf_nodes: leaves per tree, to choose from (7: shallow; 31: scikit-learn's
            default).
        min_samples_leaf: fewest training rows in a leaf, to choose from (scikit-learn's
            default 20 leaves a class with a handful of labeled rows no leaf of its own).
        categorical: how to read categorical columns, to choose from: `native` and/or
            `ordinal` (tried only when the table has categorical columns).
        max_iter: boosting rounds (one tree per class each, or one for two classes).
        seed: the estimator's random_state.
        threads: see `ClassicalBaseline` (it limits the trees' OpenMP threads too).
    """

    classifier = "gbdt"

    def __init__(
        self,
        learning_rate: Sequence[float] = (0.1,),
        max_leaf_nodes: Sequence[int] = (7, 31),
        min_samples_leaf: Sequence[int] = (2, 5, 20),
        categorical: Sequence[Literal["native", "ordinal"]] = CATEGORICAL_MODES,
        max_iter: Annotated[int, Range(ge=1)] = 200,
        seed: int = 0,
        threads: Annotated[int, Range(ge=1, example="1")] | None = 1,
    ) -> None:
        super().__init__(threads)
        self.learning_rate = [
            float(v) for v in check_grid("learning_rate", learning_rate, 0, inclusive=False)
        ]
        self.max_leaf_nodes = [
            int(v) for v in check_grid("max_leaf_nodes", max_leaf_nodes, 2, inclusive=True)
        ]
        self.min_samples_leaf = [
            int(v) for v in check_grid("min_samples_leaf", min_samples_leaf, 1, inclusive=True)
        ]
        categorical = list(categorical)
        if not categorical or any(m not in CATEGORICAL_MODES for m in categorical):
            raise BadValueError(
                f"baseline.categorical={categorical} must list one or more of "
                f"{', '.join(CATEGORICAL_MODES)}."
            )
        self.categorical = [m for m in CATEGORICAL_MODES if m in categorical]
        self.max_iter, self.seed = max_iter, seed

    def grid(self) -> list[dict[str, Any]]:
        # simplest first: fewer leaves, more rows per leaf, slower learning, native categories
        modes = self.categorical if self.schema is None or self.schema.categorical else []
        return [
            {"max_leaf_nodes": leaves, "min_samples_leaf": rows, "learning_rate": lr}
            | ({"categorical": mode} if mode else {})
            for leaves in sorted(set(self.max_leaf_nodes))
            for rows in sorted(set(self.min_samples_leaf), reverse=True)
            for lr in sorted(set(self.learning_rate))
            for mode in modes or [None]
        ]

    def build(self, setting: dict[str, Any]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        numeric, categorical = self._columns()
        mask = None
        if categorical and setting.get("categorical", "native") == "native":
            # code 0 (missing or unseen) is one more category; too many categories: ordinal
            mask = [False] * len(numeric) + [k <= MAX_BINS for k in self.schema.cardinalities]
        return HistGradientBoostingClassifier(
            learning_rate=setting["learning_rate"],
            max_leaf_nodes=setting["max_leaf_nodes"],
            min_samples_leaf=setting["min_samples_leaf"],
            max_iter=self.max_iter,
            max_bins=MAX_BINS,
            categorical_features=mask if mask and any(mask) else None,
            early_stopping=False,
            random_state=self.seed,
        )


class LogisticRegressionBaseline(TabularBaseline):
    """A multinomial logistic regression on the numeric features (standardised on the training
    rows; a missing value is the mean, 0), an indicator of missingness for every numeric column
    that has a missing value in the labeled train rows, and the categorical columns one-hot
    (a category the labeled train rows lack, or code 0 when they lack it, sets no column).

    Args:
        C: inverse regularisation strengths to choose from on validation.
        max_iter: L-BFGS iterations per fit.
        threads: see `ClassicalBaseline`.
    """

    classifier = "logreg"

    def __init__(
        self,
        C: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0, 1e3),  # scikit-learn's name
        max_iter: Annotated[int, Range(ge=1)] = 1000,
        threads: Annotated[int, Range(ge=1, example="1")] | None = 1,
    ) -> None:
        super().__init__(threads)
        self.C = [float(c) for c in check_grid("C", C, 0, inclusive=False)]
        self.max_iter = max_iter

    def grid(self) -> list[dict[str, Any]]:
        # simplest first: stronger regularisation (smaller C)
        return [{"C": c} for c in sorted(set(self.C))]

    def build(self, setting: dict[str, Any]) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        numeric, categorical = self._columns()
        columns = ColumnTransformer(
            [
                (
                    "numeric",
                    SimpleImputer(
                        strategy="constant",
                        fill_value=0.0,
                        add_indicator=True,
                        keep_empty_features=True,
                    ),
                    numeric,
                ),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        )
        return make_pipeline(columns, LogisticRegression(C=setting["C"], max_iter=self.max_iter))
