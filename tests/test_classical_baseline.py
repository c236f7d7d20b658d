"""`pk-finetune baseline=bow_logreg`: a classical floor through the fine-tune entry point, on
the fine-tunes' own labels, written and tracked as a fine-tune is, and reported as a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_cfg, run_cli, wandb_history, wandb_run_info
from hydra.utils import instantiate

from pretrainkit.baselines.text import BagOfWordsLogReg
from pretrainkit.errors import exit_on_user_error
from pretrainkit.finetune import finetune
from pretrainkit.report import report
from pretrainkit.run.files import METRICS

FORTUNES = Path("/usr/share/games/fortunes")
BOW = ["baseline=bow_logreg", "dataset=fortunes", "baseline.C=[1,100]", "baseline.ngrams=[1]"]


@pytest.fixture(autouse=True)
def _need_fortunes() -> None:
    if not (FORTUNES / "computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")


def test_bow_logreg_runs_as_a_fine_tune_and_reports_as_a_row(tmp_path: Path, monkeypatch):
    seen = {}
    fit = BagOfWordsLogReg.fit

    def spy(self, splits, num_classes):
        seen.update(splits)
        return fit(self, splits, num_classes)

    monkeypatch.setattr(BagOfWordsLogReg, "fit", spy)
    run = tmp_path / "runs/bow"
    result = finetune(make_cfg("finetune", [*BOW, "labels_per_class=10", "seed=1"], run))

    # the labeled subset and validation split a neural fine-tune of the same seed draws
    neural = make_cfg("finetune", ["dataset=fortunes", "labels_per_class=10", "seed=1"], tmp_path)
    drawn = instantiate(neural.data).labeled_splits()
    for split in ("train", "val", "test"):
        assert seen[split].texts == drawn[split].texts
    metrics = json.loads((run / METRICS).read_text())
    assert metrics == json.loads(json.dumps(result))
    assert metrics["method"] == "bow-logreg" and metrics["num_labeled"] == 80
    assert metrics["task"] == "bow" and metrics["finetune_mode"] == "logreg"
    assert metrics["lr"] is None and metrics["history"] is None
    assert metrics["test/acc"] > 0.2 and metrics["val/acc_best"] == metrics["val/acc"]
    assert metrics["classical"]["chosen"] in [{"ngrams": 1, "C": c} for c in (1.0, 100.0)]

    (wandb_dir,) = (run / "wandb").glob("offline-run-*")
    tags = wandb_run_info(wandb_dir)["tags"]
    assert {"task:bow", "labels_per_class:10", "mode:logreg", "seed:1", "classical"} <= set(tags)
    logged = {k: v for row in wandb_history(wandb_dir) for k, v in row.items()}
    assert logged["test/acc"] == pytest.approx(metrics["test/acc"])

    # beside a neural run: its own row, with no lr, and the floor the neural row is held to
    neural_run = {"method": "scratch-finetune", "task": "scratch", "finetune_mode": "finetune",
                  "labels_per_class": 10, "num_labeled": 80, "seed": 1, "lr": 1e-3,
                  "test/acc": 0.5, "test/f1": 0.45}  # fmt: skip
    (tmp_path / "runs/scratch").mkdir()
    (tmp_path / "runs/scratch" / METRICS).write_text(json.dumps(neural_run))
    table = report(tmp_path / "runs", tmp_path / "out", wandb=False)
    (row,) = [line for line in table.splitlines() if "bow-logreg" in line]
    assert row.startswith("| 10/class (80 labeled) | bow-logreg |") and row.endswith("| 1 | — |")
    text = (tmp_path / "out/report.md").read_text()
    assert "| 10/class (80 labeled) | scratch-finetune | bow-logreg |" in text
    assert "## What pretraining bought" not in text and "## Labels saved" not in text


def test_a_baseline_on_images_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    cfg = make_cfg("finetune", ["baseline=bow_logreg", "dataset=digits"], tmp_path)
    with pytest.raises(SystemExit) as exit_:
        exit_on_user_error(finetune)(cfg)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "reads text but dataset=digits holds image; pick a text dataset" in err
    assert not (tmp_path / METRICS).exists()


@pytest.mark.slow  # 10-18 s here: a console script's start-up and Hydra's multirun
def test_a_multirun_of_baselines_reports_itself(tmp_path: Path):
    sweep = tmp_path / "sweep"
    run_cli("pk-finetune", "-m", *BOW, "labels_per_class=5", "seed=0,1", "logger=none",
            f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert [json.loads((sweep / f"{i}" / METRICS).read_text())["seed"] for i in (0, 1)] == [0, 1]
    assert "| 5/class (40 labeled) | bow-logreg |" in (sweep / "report.md").read_text()
