"""The bag-of-words floor on real fortunes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pretrainkit.baselines.text import BagOfWordsLogReg
from pretrainkit.data.text.fortunes import Fortunes
from pretrainkit.data.text.labeled import LabeledTextDataModule
from pretrainkit.errors import BadValueError


def test_bow_logreg_beats_chance_and_chooses_on_validation(fortunes: Fortunes, tmp_path: Path):
    splits = LabeledTextDataModule(
        fortunes, labels_per_class=10, cache_dir=str(tmp_path)
    ).labeled_splits()
    baseline = BagOfWordsLogReg(C=[0.1, 10, 1000], ngrams=[1, 2])
    fitted = baseline.fit(splits, num_classes=8)
    assert fitted.metrics["test/acc"] > 0.2  # 8 categories: chance is 0.125
    assert fitted.metrics["train/acc"] == 1.0  # 80 texts, thousands of words: separable
    assert [t["setting"] for t in fitted.tried] == baseline.grid() and len(baseline.grid()) == 6
    best = max(t["val/acc"] for t in fitted.tried)
    assert fitted.metrics["val/acc"] == best
    assert next(t for t in fitted.tried if t["val/acc"] == best)["setting"] == fitted.chosen

    # test labels shuffled: the choice and every validation score stay as they were
    rng = np.random.default_rng(0)
    shuffled = splits["test"].subset(range(len(splits["test"])))
    shuffled.targets = rng.permutation(shuffled.targets)
    again = baseline.fit({**splits, "test": shuffled}, num_classes=8)
    assert again.chosen == fitted.chosen and again.tried == fitted.tried


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"C": []}, "baseline.C=[] must list one or more values > 0"),
        ({"C": [1, 0]}, "baseline.C=[1, 0] must list one or more values > 0"),
        ({"ngrams": [0]}, "baseline.ngrams=[0] must list one or more values >= 1"),
    ],
)
def test_bad_grids_are_refused(kwargs: dict, message: str):
    with pytest.raises(BadValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BagOfWordsLogReg(**kwargs)
