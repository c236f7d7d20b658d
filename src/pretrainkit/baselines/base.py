"""What every classical baseline shares: fit a scikit-learn estimator on the labeled subset a
fine-tune trains on, choose its settings on the same validation split, and score the chosen one
on the same test split with the fine-tunes' own metric definitions.

A baseline says which kind of data it reads, names its features and its classifier (`bow` and
`logreg` make the report's `bow-logreg`), lists the settings to choose from and builds an
estimator for one setting; `fit` does the rest. Nothing here looks at test labels before the
choice is made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np

from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Fitted:
    """A baseline's result: the chosen setting, the validation accuracy of every setting tried
    (in grid order), and the chosen one's metrics under the fine-tunes' keys (`test/acc`...)."""

    chosen: dict[str, Any]
    tried: list[dict[str, Any]]
    metrics: dict[str, float]


def scores(pred: np.ndarray, target: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy (micro) and macro-F1, computed by the same torchmetrics functions as the
    fine-tunes' `Classifier` metrics, so the report compares like with like."""
    import torch
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    p, t = torch.as_tensor(np.asarray(pred)), torch.as_tensor(np.asarray(target))
    return {
        "acc": float(multiclass_accuracy(p, t, num_classes, average="micro")),
        "f1": float(multiclass_f1_score(p, t, num_classes, average="macro")),
    }


def check_grid(name: str, values: Sequence[float], low: float, inclusive: bool) -> list[Any]:
    """A non-empty list of settings, each above `low` (at least `low` when `inclusive`)."""
    values = list(values)
    bad = [v for v in values if v < low or (v == low and not inclusive)]
    if not values or bad:
        bound = f"{'>=' if inclusive else '>'} {low:g}"
        raise BadValueError(f"baseline.{name}={values} must list one or more values {bound}.")
    return values


class ClassicalBaseline(ABC):
    """A scikit-learn classifier over fixed features, its settings chosen on validation.

    Args:
        threads: BLAS/OpenMP threads while fitting (threadpoolctl); None leaves the libraries'
            own. One by default: a few hundred examples gain nothing from more, and on a busy
            machine idle-spinning threads made each fit 10-100x slower.
    """

    modality: ClassVar[str]  # the kind of data it reads: image | text | tabular
    features: ClassVar[str]  # the method's first part in the report: `bow`
    classifier: ClassVar[str]  # and its second: `logreg`

    def __init__(self, threads: Annotated[int, Range(ge=1, example="1")] | None = 1) -> None:
        self.threads = threads

    @property
    def name(self) -> str:
        return f"{self.features}-{self.classifier}"

    @abstractmethod
    def grid(self) -> list[dict[str, Any]]:
        """The settings to choose from, simplest first: equal validation accuracies go to the
        earlier one."""

    @abstractmethod
    def build(self, setting: dict[str, Any]) -> Any:
        """An unfitted scikit-learn estimator for one setting of `grid()`."""

    @abstractmethod
    def inputs(self, split: Any) -> Any:
        """What the estimator reads of a split (texts, a feature matrix); its labels are
        `split.targets`."""

    def fit(self, splits: Mapping[str, Any], num_classes: int) -> Fitted:
        """Fit every setting on `splits["train"]`, keep the best on `splits["val"]`, and score
        it on every split. `splits["test"]` is read only after the choice."""
        from threadpoolctl import threadpool_limits

        train, val = splits["train"], splits["val"]
        with threadpool_limits(limits=self.threads):
            tried, best, model, chosen = [], -1.0, None, {}
            for setting in self.grid():
                candidate = self.build(setting).fit(self.inputs(train), train.targets)
                acc = scores(candidate.predict(self.inputs(val)), val.targets, num_classes)["acc"]
                tried.append({"setting": setting, "val/acc": acc})
                if acc > best:
                    best, model, chosen = acc, candidate, setting
            metrics = {}
            for split in SPLITS:
                pred = model.predict(self.inputs(splits[split]))
                for key, value in scores(pred, splits[split].targets, num_classes).items():
                    metrics[f"{split}/{key}"] = value
        metrics["val/acc_best"] = metrics["val/acc"]  # what pk-finetune returns to a sweeper
        return Fitted(chosen, tried, metrics)
