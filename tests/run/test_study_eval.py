"""`study.eval=true`: a study's linear jobs run pk-eval on their frozen backbone (a scratch job:
its random init) once per backbone, labels and seed, leave the fine-tune's own numbers as they
were, and pk-report tabulates the results against the random init."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import make_cfg
from omegaconf import open_dict
from safetensors.torch import load_file

from pretrainkit.finetune import finetune
from pretrainkit.pretrain import pretrain
from pretrainkit.report import report
from pretrainkit.report.frozen import frozen_rows
from pretrainkit.run.files import ERROR, EVAL_RESULTS


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pre")
    pretrain(make_cfg("pretrain", ["logger=none"], out))
    return out


def _finetune(out: Path, study: Path, source: str, *overrides: str, on: bool = True) -> Any:
    cfg = make_cfg(
        "finetune",
        ["logger=none", "finetune_mode=linear", "label_fraction=0.2", f"pretrained={source}",
         f"study.eval={str(on).lower()}", *overrides],
        out,
    )  # fmt: skip
    with open_dict(cfg):
        cfg.study.dir = str(study)
        cfg.paths.cache_dir = str(study / "cache")
    return finetune(cfg)


def test_a_linear_job_evaluates_its_backbone_once_and_keeps_its_own_numbers(
    pretrained: Path, tmp_path: Path
):
    with_eval = _finetune(tmp_path / "a", tmp_path / "s", str(pretrained))
    without = _finetune(tmp_path / "b", tmp_path / "s2", str(pretrained), on=False)
    # the evaluation draws nothing from the fine-tune's random streams
    for key in ("test/acc", "val/acc_best", "train/loss"):
        assert with_eval[key] == without[key], key
    assert not (tmp_path / "b" / "eval").exists()

    result = json.loads((tmp_path / "a" / "eval" / EVAL_RESULTS).read_text())
    assert result["task"] == "simclr" and result["pretrained"] == str(pretrained.resolve())
    assert result["num_labeled"] == with_eval["num_labeled"]  # the same labeled split
    assert result["seed"] == 0 and result["label_fraction"] == 0.2
    assert 0.3 < result["metrics"]["test/linear_acc"] <= 1.0

    # another lr of the same backbone, labels and seed: already evaluated, skipped
    _finetune(tmp_path / "c", tmp_path / "s", str(pretrained), "optim.optimizer.lr=0.03")
    assert not (tmp_path / "c" / "eval").exists()
    # another seed draws other labels: evaluated again
    _finetune(tmp_path / "d", tmp_path / "s", str(pretrained), "seed=1")
    assert json.loads((tmp_path / "d" / "eval" / EVAL_RESULTS).read_text())["seed"] == 1


def test_a_scratch_job_evaluates_its_untrained_backbone(tmp_path: Path):
    _finetune(tmp_path / "run", tmp_path / "s", "null")
    result = json.loads((tmp_path / "run" / "eval" / EVAL_RESULTS).read_text())
    assert result["task"] == "random_init"
    exported = load_file(tmp_path / "run" / "eval" / "random_init" / "backbone.safetensors")
    # a linear job never changes its backbone: the trained model's is the one evaluated
    import torch

    best = next((tmp_path / "run").rglob("best.ckpt"))
    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    for name, tensor in exported.items():
        assert torch.equal(state[f"backbone.{name}"], tensor), name


def test_eval_settings_are_checked_before_any_work(tmp_path: Path):
    for setting, message in (("+study.eval_settings.knn.k=[]", "eval.knn.k=[]: give"),
                             ("+study.eval_settings.kn=null", "study.eval_settings: Key 'kn'"),
                             ("+study.eval_settings.shots=[0]", "eval.shots=[0]")):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(message)):
            _finetune(tmp_path / "run", tmp_path / "s", "null", setting)
        assert not (tmp_path / "run").exists() and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_failed_evaluation_is_recorded_and_the_fine_tune_finishes(
    pretrained: Path, tmp_path: Path
):
    """10 shots per class do not fit in 20% of digits' training labels: pk-eval refuses them
    only once it sees the data."""
    result = _finetune(tmp_path / "run", tmp_path / "s", str(pretrained),
                       "+study.eval_settings.shots=[100]")  # fmt: skip
    assert result["test/acc"] > 0
    error = json.loads((tmp_path / "run" / "eval" / ERROR).read_text())
    assert "eval.shots=[100]" in error["error"], error["error"]


def _eval_json(root: Path, name: str, task: str, seed: int, knn: float, linear: float) -> None:
    out = root / name / "eval"
    out.mkdir(parents=True)
    payload = {"task": task, "pretrained": f"/runs/{task}", "pretrain_epochs": 10,
               "backbone": "SmallCNN", "label_fraction": 0.1, "labels_per_class": None,
               "num_labeled": 129, "seed": seed,
               "metrics": {"test/knn_acc": knn, "test/linear_acc": linear}}  # fmt: skip
    (out / EVAL_RESULTS).write_text(json.dumps(payload))


def test_the_report_pairs_each_backbone_with_the_random_init_by_seed(tmp_path: Path):
    _eval_json(tmp_path, "0", "simclr", 0, 0.90, 0.92)
    _eval_json(tmp_path, "1", "simclr", 1, 0.80, 0.86)
    _eval_json(tmp_path, "2", "random_init", 0, 0.85, 0.87)
    _eval_json(tmp_path, "3", "random_init", 1, 0.70, 0.80)
    from pretrainkit.report.frozen import collect_evals

    rows = {r["backbone"]: r for r in frozen_rows(collect_evals(tmp_path))}
    simclr, random = rows["simclr"], rows["random init (SmallCNN)"]
    assert simclr["knn"] == pytest.approx((85.0, 7.0711), abs=1e-3)
    assert simclr["knn_gain"] == pytest.approx((7.5, 3.5355), abs=1e-3)  # +5 and +10 by seed
    assert simclr["linear_gain"] == pytest.approx((5.5, 0.7071), abs=1e-3)  # +5 and +6
    assert random["knn_gain"] is None and random["seeds"] == 2

    report(tmp_path, tmp_path, wandb=False)  # no fine-tune run: the section still shows
    text = (tmp_path / "report.md").read_text()
    assert "## Frozen backbones under pk-eval" in text
    assert (
        "| 10% (129 labeled) | simclr | 85.0 ± 7.1 | 89.0 ± 4.2 | +7.5 ± 3.5 | +5.5 ± 0.7 | 2 |"
        in text
    )
