"""HFDiskDataset reads a dataset saved with `save_to_disk`, with or without its own test split."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pretrainkit.data.text.fortunes import Fortunes
from pretrainkit.data.text.hf_disk import HFDiskDataset


@pytest.fixture
def hf_dict(tmp_path: Path, fortunes: Fortunes) -> Path:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["work", "zippy"])}
    )
    split = {
        name: datasets.Dataset.from_dict(
            {
                "text": fortunes.entries("work")[lo:hi] + fortunes.entries("zippy")[lo:hi],
                "label": [0] * (hi - lo) + [1] * (hi - lo),
            },
            features=features,
        )
        for name, (lo, hi) in {"train": (0, 20), "test": (20, 25)}.items()
    }
    datasets.DatasetDict(split).save_to_disk(str(tmp_path / "hf"))
    return tmp_path / "hf"


def test_hf_disk_dataset_dict(hf_dict: Path, fortunes: Fortunes):
    source = HFDiskDataset(str(hf_dict))
    assert source.classes == ["work", "zippy"]
    docs = list(source.documents())
    assert docs == fortunes.entries("work")[:20] + fortunes.entries("zippy")[:20]
    test = source.labeled("test")
    assert (
        test.texts[:5] == fortunes.entries("work")[20:25]
        and test.targets.tolist() == [0] * 5 + [1] * 5
    )
    with pytest.raises(ValueError, match="has no column 'body'"):
        HFDiskDataset(str(hf_dict), text_field="body").documents()


def test_hf_disk_single_dataset_holds_out_a_test_split(tmp_path: Path, fortunes: Fortunes):
    import datasets

    texts = fortunes.entries("work")[:10] + fortunes.entries("zippy")[:10]
    labels = ["work"] * 10 + ["zippy"] * 10  # plain strings, not a ClassLabel
    datasets.Dataset.from_dict({"text": texts, "label": labels}).save_to_disk(str(tmp_path / "d"))
    source = HFDiskDataset(str(tmp_path / "d"))
    test = source.labeled("test")
    assert np.bincount(test.targets).tolist() == [2, 2] and len(source.labeled("train")) == 16
    docs = list(source.documents())
    assert len(docs) == 16 and not set(docs) & set(test.texts)


def test_hf_disk_without_datasets_says_pip_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ImportError, match="pip install datasets"):
        HFDiskDataset("/nonexistent").documents()
