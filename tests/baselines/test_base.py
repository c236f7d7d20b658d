"""What every classical baseline shares: the choice on validation, never on test, and the
fine-tunes' own metric definitions."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import torch

from pretrainkit.baselines.base import ClassicalBaseline, scores
from pretrainkit.data.text.sources import LabeledTexts


class Constant:
    """An estimator that predicts one class whatever it reads."""

    def __init__(self, k: int) -> None:
        self.k = k

    def fit(self, inputs: Any, targets: np.ndarray) -> Constant:
        return self

    def predict(self, inputs: Any) -> np.ndarray:
        return np.full(len(inputs), self.k)


class ConstantBaseline(ClassicalBaseline):
    modality = "text"
    features = "const"
    classifier = "k"

    def grid(self) -> list[dict[str, Any]]:
        return [{"k": 0}, {"k": 1}, {"k": 2}]

    def build(self, setting: dict[str, Any]) -> Constant:
        return Constant(setting["k"])

    def inputs(self, split: LabeledTexts) -> list[str]:
        return split.texts


def split(targets: list[int]) -> LabeledTexts:
    return LabeledTexts(["a text"] * len(targets), np.array(targets))


def test_the_setting_is_chosen_on_validation_never_on_test():
    # validation says class 1, test says class 2: a choice made on test would pick k=2
    splits = {"train": split([0, 1, 2]), "val": split([1, 1, 1, 0]), "test": split([2, 2, 2, 2])}
    fitted = ConstantBaseline().fit(splits, num_classes=3)
    assert fitted.chosen == {"k": 1}
    assert [t["val/acc"] for t in fitted.tried] == [0.25, 0.75, 0.0]
    assert fitted.metrics["val/acc_best"] == fitted.metrics["val/acc"] == 0.75
    assert fitted.metrics["test/acc"] == 0.0
    assert fitted.metrics["train/acc"] == pytest.approx(1 / 3)
    assert ConstantBaseline().name == "const-k"


def test_equal_validation_accuracies_go_to_the_first_setting():
    splits = {"train": split([0, 1]), "val": split([0, 1]), "test": split([1, 1])}
    assert ConstantBaseline().fit(splits, num_classes=3).chosen == {"k": 0}


def test_scores_are_the_fine_tune_classifiers_metrics():
    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.tasks.classifier import Classifier

    rng = np.random.default_rng(0)
    target, pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    pred[:80] = target[:80]  # better than chance, and class 4 rarely right
    model = Classifier(SmallCNN(1), 5, functools.partial(torch.optim.AdamW, lr=0.01))
    metrics = model.test_metrics
    metrics.update(torch.as_tensor(pred), torch.as_tensor(target))
    expected = {k.removeprefix("test/"): float(v) for k, v in metrics.compute().items()}
    assert scores(pred, target, 5) == pytest.approx(expected)
    assert expected["acc"] != pytest.approx(expected["f1"])  # the two definitions differ here
