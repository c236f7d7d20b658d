"""Reading tables: mlbench's .rda files and the user's CSV/Parquet; types, missing values, the
label column, statistics from training rows only, and bad files and columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pretrainkit.data.tabular.files import TableFiles
from pretrainkit.data.tabular.mlbench import MLBench
from pretrainkit.errors import BadValueError, MissingFileError


def test_letter_recognition(mlbench_root: str) -> None:
    source = MLBench("LetterRecognition", root=mlbench_root)
    schema = source.schema
    assert schema.num_numeric == 16 and schema.categorical == []
    assert source.classes == [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    train, test = source.labeled("train"), source.labeled("test")
    assert len(train) + len(test) == 20_000 and abs(len(test) - 4_000) <= 26
    assert train.x.shape == (len(train), 16) and train.x.dtype == torch.float32
    # standardised with the training rows' statistics: mean 0, std 1 on train, not on test
    assert torch.allclose(train.x.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(train.x.std(0, unbiased=False), torch.ones(16), atol=1e-3)
    assert source.unlabeled().targets.tolist() == [-1] * len(train)
    assert torch.equal(source.unlabeled().x, train.x)  # the pool is the training rows


def test_categorical_tables_with_missing_values(mlbench_root: str) -> None:
    source = MLBench("HouseVotes84", root=mlbench_root)
    schema = source.schema
    assert schema.num_numeric == 0 and len(schema.categorical) == 16
    assert all(c == ["n", "y"] for c in schema.categories)
    assert schema.cardinalities == [3] * 16
    codes = source.labeled("train").categorical_codes()
    assert set(np.unique(codes)) == {0, 1, 2}  # 0: a missing vote
    assert source.classes == ["democrat", "republican"]


def test_identifiers_are_dropped(mlbench_root: str) -> None:
    assert "Id" not in MLBench("BreastCancer", root=mlbench_root).schema.columns


def test_statistics_come_from_training_rows_only(tmp_path: Path) -> None:
    """Changing the test rows changes nothing the training rows are encoded with."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(5, 2, 200), "c": rng.choice(["x", "y"], 200)})
    train["label"] = rng.choice(["p", "q"], 200)
    test = train.copy().iloc[:50]
    test["a"] = 1e6  # wild test values, and a category training never had
    test["c"] = "unseen"
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    source = TableFiles(str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"))
    pre = source.preprocessor
    assert pre.mean[0] == pytest.approx(train["a"].mean())
    assert pre.std[0] == pytest.approx(train["a"].std(ddof=0))
    assert source.schema.categories == [["x", "y"]]
    assert set(source.labeled("test").categorical_codes()[:, 0]) == {0}  # unseen -> 0
    # the same training file with other test rows: the same encoding of the training rows
    test["a"] = -1e6
    test.to_csv(tmp_path / "test.csv", index=False)
    other = TableFiles(str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"))
    assert torch.equal(other.labeled("train").x, source.labeled("train").x)


def test_held_out_test_rows_shape_nothing(mlbench_root: str) -> None:
    """Without a test file the held-out rows are left out of the statistics and categories."""
    source = MLBench("LetterRecognition", root=mlbench_root)
    raw_train = (
        source.labeled("train").x.numpy() * source.preprocessor.std + source.preprocessor.mean
    )
    assert np.allclose(source.preprocessor.mean, raw_train.mean(0), atol=1e-3)


def test_csv_types_missing_values_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "age": [31, None, 45, 22, 38, 51, 29, 40],
            "plan": ["basic", "pro", None, "pro", "basic", "pro", "basic", "basic"],
            "active": [True, False, True, True, False, True, False, True],
            "id": range(8),
            "churned": ["no", "yes"] * 4,
        }
    )
    frame.to_parquet(tmp_path / "rows.parquet")
    source = TableFiles(str(tmp_path / "rows.parquet"), label="churned", drop=["id"])
    schema = source.schema
    assert schema.numeric == ["age"] and schema.categorical == ["plan", "active"]
    # a missing number becomes the training mean (0 after standardising), and is remembered
    train = source.labeled("train")
    missing = train.missing[:, 0]
    assert missing.any() or source.labeled("test").missing[:, 0].any()  # one of 8 rows
    assert torch.all(train.x[torch.from_numpy(missing), 0] == 0)
    assert np.isnan(train.numeric_with_nan()[missing, 0]).all()
    frame.to_csv(tmp_path / "rows.csv", index=False)
    declared = TableFiles(
        str(tmp_path / "rows.csv"),
        label="churned",
        categorical=["age", "plan"],
        drop=["id", "active"],
    )
    assert declared.schema.numeric == [] and declared.schema.categorical == ["age", "plan"]


def test_unlabeled_rows_join_pretraining(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labeled = pd.DataFrame({"a": rng.normal(size=40), "label": ["p", "q"] * 20})
    extra = pd.DataFrame({"a": rng.normal(size=100)})
    labeled.to_csv(tmp_path / "l.csv", index=False)
    extra.to_csv(tmp_path / "u.csv", index=False)
    source = TableFiles(str(tmp_path / "l.csv"), unlabeled_path=str(tmp_path / "u.csv"))
    assert len(source.unlabeled()) == len(source.labeled("train")) + 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "nope"}, "no label column dataset.source.label='nope'"),
        ({"categorical": ["nope"]}, "dataset.source.categorical names 'nope'"),
        ({"numeric": ["c"]}, "column 'c' is declared numeric"),
    ],
)
def test_bad_columns(tmp_path: Path, kwargs: dict, message: str) -> None:
    frame = pd.DataFrame({"a": range(10), "c": list("xyxyxyxyxy"), "label": list("pqpqpqpqpq")})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(BadValueError, match=message):
        _ = TableFiles(str(tmp_path / "t.csv"), **kwargs).schema


def test_bad_files(tmp_path: Path, mlbench_root: str) -> None:
    (tmp_path / "empty.csv").write_text("a,label\n")
    with pytest.raises(BadValueError, match="empty.csv has no rows"):
        _ = TableFiles(str(tmp_path / "empty.csv")).schema
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BadValueError, match="cannot read .*bad.parquet as parquet"):
        _ = TableFiles(str(tmp_path / "bad.parquet")).schema
    with pytest.raises(MissingFileError, match="no such file"):
        _ = TableFiles(str(tmp_path / "absent.csv")).schema
    with pytest.raises(MissingFileError, match="dataset.source.table is one of"):
        _ = MLBench("Nope", root=mlbench_root, label="x").schema
    with pytest.raises(BadValueError, match="its class column is not known"):
        MLBench("Nope")
