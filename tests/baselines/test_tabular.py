"""The tabular floors, gradient-boosted trees and logistic regression, on real mlbench tables."""

from __future__ import annotations

import numpy as np
import pytest

from pretrainkit.baselines.tabular import GradientBoostedTrees, LogisticRegressionBaseline
from pretrainkit.data.tabular.labeled import LabeledTableDataModule
from pretrainkit.data.tabular.mlbench import MLBench
from pretrainkit.data.tabular.table import Rows
from pretrainkit.errors import BadValueError


def splits(root: str, table: str, fraction: float) -> tuple[dict[str, Rows], int]:
    source = MLBench(table, root=root)
    data = LabeledTableDataModule(source, label_fraction=fraction, seed=0)
    return data.labeled_splits(), source.num_classes


def inverted(test: Rows, num_classes: int) -> Rows:
    """The test rows with every label moved to another class."""
    rows = test.subset(np.arange(len(test)))
    rows.targets = (rows.targets + 1) % num_classes
    return rows


@pytest.fixture(scope="module")
def letters(mlbench_root: str) -> tuple[dict[str, Rows], int]:
    return splits(mlbench_root, "LetterRecognition", 0.05)  # 719 labeled rows, 26 classes


def test_both_beat_chance_on_letter_recognition(letters):
    data, k = letters
    assert len(data["train"]) < 1000 and k == 26  # chance: 1/26, under 4%
    # a smaller grid than the config's, and fewer rounds, to keep the test fast
    gbdt = GradientBoostedTrees(max_leaf_nodes=[7], min_samples_leaf=[5, 20], max_iter=50)
    for baseline, floor in ((gbdt, 0.6), (LogisticRegressionBaseline(C=[0.1, 10]), 0.55)):
        fitted = baseline.fit(data, num_classes=k)
        assert fitted.metrics["test/acc"] > floor, baseline.name
        assert [t["setting"] for t in fitted.tried] == baseline.grid()
        best = max(t["val/acc"] for t in fitted.tried)
        assert fitted.metrics["val/acc"] == best
        assert next(t for t in fitted.tried if t["val/acc"] == best)["setting"] == fitted.chosen
    # an all-numeric table: no categorical handling to choose
    assert gbdt.grid() == [
        {"max_leaf_nodes": 7, "min_samples_leaf": 20, "learning_rate": 0.1},
        {"max_leaf_nodes": 7, "min_samples_leaf": 5, "learning_rate": 0.1},
    ]


def test_the_choice_is_made_on_validation_not_test(letters, mlbench_root: str):
    # every test label wrong: a choice that read them would change; this one must not
    data, k = letters
    baseline = LogisticRegressionBaseline(C=[0.01, 1, 100])
    fitted = baseline.fit(data, num_classes=k)
    again = baseline.fit({**data, "test": inverted(data["test"], k)}, num_classes=k)
    assert again.chosen == fitted.chosen and again.tried == fitted.tried
    assert again.metrics["test/acc"] < 0.1 < fitted.metrics["test/acc"]

    votes, k = splits(mlbench_root, "HouseVotes84", 0.1)
    gbdt = GradientBoostedTrees(min_samples_leaf=[20, 2], max_iter=50)
    fitted = gbdt.fit(votes, num_classes=k)
    again = gbdt.fit({**votes, "test": inverted(votes["test"], k)}, num_classes=k)
    assert again.chosen == fitted.chosen and again.tried == fitted.tried
    assert again.metrics["test/acc"] == pytest.approx(1 - fitted.metrics["test/acc"])


def test_gbdt_declares_categorical_columns_and_keeps_missing_values(mlbench_root: str):
    # every column categorical, with missing votes (code 0); all labeled rows
    votes, k = splits(mlbench_root, "HouseVotes84", 1.0)
    train = votes["train"]
    assert (train.categorical_codes() == 0).any() and train.schema.num_numeric == 0
    gbdt = GradientBoostedTrees(max_leaf_nodes=[7], min_samples_leaf=[20], max_iter=50)
    fitted = gbdt.fit(votes, num_classes=k)
    assert fitted.metrics["test/acc"] > 0.85  # majority: 61%
    assert [t["setting"]["categorical"] for t in fitted.tried] == ["native", "ordinal"]
    model = gbdt.build(fitted.tried[0]["setting"]).fit(gbdt.inputs(train), train.targets)
    assert model.is_categorical_.tolist() == [True] * 16
    assert model.early_stopping is False and model.random_state == 0
    model = gbdt.build(fitted.tried[1]["setting"]).fit(gbdt.inputs(train), train.targets)
    assert model.is_categorical_ is None


def test_gbdt_reads_categories_as_codes_when_rows_are_few(mlbench_root: str):
    # Soybean at 1%: one labeled row per class, 35 categorical columns with missing values.
    # Native categorical splits need 10 rows per category, so only the ordinal reading learns.
    soy, k = splits(mlbench_root, "Soybean", 0.01)
    assert len(soy["train"]) == k == 19
    gbdt = GradientBoostedTrees(max_leaf_nodes=[7], min_samples_leaf=[2], max_iter=50)
    fitted = gbdt.fit(soy, num_classes=k)
    assert fitted.chosen["categorical"] == "ordinal"
    assert fitted.metrics["test/acc"] > 0.4  # the largest class: 13%


def test_gbdt_numeric_missing_values_stay_missing(mlbench_root: str):
    pima, k = splits(mlbench_root, "PimaIndiansDiabetes2", 0.5)
    train = pima["train"]
    assert train.missing.any()
    gbdt = GradientBoostedTrees(max_leaf_nodes=[7], min_samples_leaf=[20], max_iter=50)
    assert np.isnan(gbdt.inputs(train)).sum() == train.missing.sum()
    assert gbdt.fit(pima, num_classes=k).metrics["test/acc"] > 0.7  # majority: 65%


def test_many_categories_are_read_as_codes():
    # HistGradientBoosting refuses more than 255 categories in a categorical column
    from pretrainkit.data.tabular.table import Preprocessor, RawTable, Schema

    rng = np.random.default_rng(0)
    many = [f"c{i}" for i in range(300)]
    schema = Schema(["x"], ["few", "many"], [["a", "b"], sorted(many)])
    raw = RawTable(
        rng.normal(size=(600, 1)),
        [rng.choice(["a", "b"], 600).astype(object), np.array(many * 2, dtype=object)],
        rng.integers(0, 2, 600),
    )
    rows = Preprocessor(schema).fit(raw).encode(raw)
    gbdt = GradientBoostedTrees(max_leaf_nodes=[7], min_samples_leaf=[20], max_iter=5)
    gbdt.fit({"train": rows, "val": rows, "test": rows}, num_classes=2)
    model = gbdt.build(gbdt.grid()[0]).fit(gbdt.inputs(rows), rows.targets)
    assert model.is_categorical_.tolist() == [False, True, False]


def test_logreg_indicates_missing_values_seen_in_train(mlbench_root: str):
    pima, k = splits(mlbench_root, "PimaIndiansDiabetes2", 0.1)
    train = pima["train"]
    with_missing = np.flatnonzero(train.missing.any(axis=0))
    assert 0 < len(with_missing) < train.schema.num_numeric
    logreg = LogisticRegressionBaseline()
    fitted = logreg.fit(pima, num_classes=k)
    assert fitted.metrics["test/acc"] > 0.65  # majority: 65%
    model = logreg.build(fitted.chosen).fit(logreg.inputs(train), train.targets)
    columns = model.named_steps["columntransformer"]
    assert columns.named_transformers_["numeric"].indicator_.features_.tolist() == (
        with_missing.tolist()
    )
    width = train.schema.num_numeric + len(with_missing)
    assert columns.transform(logreg.inputs(pima["test"])).shape == (len(pima["test"]), width)


@pytest.mark.filterwarnings("ignore:The number of unique classes")  # 29 rows, 19 classes
def test_logreg_one_hot_codes_unseen_ones_set_nothing(mlbench_root: str):
    soy, k = splits(mlbench_root, "Soybean", 0.05)
    logreg = LogisticRegressionBaseline()
    fitted = logreg.fit(soy, num_classes=k)
    assert fitted.metrics["test/acc"] > 0.5  # the largest class: 13%
    train, test = soy["train"], soy["test"]
    model = logreg.build(fitted.chosen).fit(logreg.inputs(train), train.targets)
    columns = model.named_steps["columntransformer"]
    seen = sum(len(np.unique(c)) for c in train.categorical_codes().T)
    assert columns.transform(logreg.inputs(test)).shape == (len(test), seen)
    assert logreg.name == "raw-logreg" and GradientBoostedTrees().name == "raw-gbdt"
    assert logreg.modality == GradientBoostedTrees.modality == "tabular"


def test_grids_list_the_simplest_first():
    assert [s["C"] for s in LogisticRegressionBaseline(C=[10, 0.1, 1]).grid()] == [0.1, 1, 10]
    grid = GradientBoostedTrees(learning_rate=[0.1, 0.05]).grid()  # no table seen yet: all
    assert len(grid) == 2 * 3 * 2 * 2
    assert grid[0] == {
        "max_leaf_nodes": 7,
        "min_samples_leaf": 20,
        "learning_rate": 0.05,
        "categorical": "native",
    }
    assert grid[-1] == {
        "max_leaf_nodes": 31,
        "min_samples_leaf": 2,
        "learning_rate": 0.1,
        "categorical": "ordinal",
    }


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (LogisticRegressionBaseline, {"C": []}, "baseline.C=[] must list one or more values > 0"),
        (LogisticRegressionBaseline, {"C": [1, 0]}, "baseline.C=[1, 0] must list one or more"),
        (GradientBoostedTrees, {"learning_rate": [0]}, "baseline.learning_rate=[0] must list"),
        (
            GradientBoostedTrees,
            {"max_leaf_nodes": [1]},
            "baseline.max_leaf_nodes=[1] must list one or more values >= 2",
        ),
        (GradientBoostedTrees, {"min_samples_leaf": []}, "baseline.min_samples_leaf=[] must"),
        (
            GradientBoostedTrees,
            {"categorical": ["onehot"]},
            "baseline.categorical=['onehot'] must list one or more of native, ordinal",
        ),
        (GradientBoostedTrees, {"categorical": []}, "baseline.categorical=[] must list"),
    ],
)
def test_bad_grids_are_refused(cls: type, kwargs: dict, message: str):
    with pytest.raises(BadValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        cls(**kwargs)


def test_build_before_fit_says_so():
    with pytest.raises(RuntimeError, match="before fit"):
        LogisticRegressionBaseline().build({"C": 1.0})


def test_a_categorical_mode_it_lacks_is_refused_by_the_config_checks(tmp_path):
    from helpers import make_cfg

    from pretrainkit.config.checks import ConfigError
    from pretrainkit.config.schema import FinetuneConfig
    from pretrainkit.config.validate import validate

    overrides = ["baseline=gbdt", "dataset=letter", "baseline.categorical=[onehot]"]
    with pytest.raises(ConfigError, match=r"must be a list of native \| ordinal; e\.g\."):
        validate(make_cfg("finetune", overrides, tmp_path), FinetuneConfig)
