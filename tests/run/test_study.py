"""The label-efficiency study as one `pk-finetune -m`: pretraining once per task, failures that
do not sink it, W&B groups and tags, the report at the end; the Optuna search and launchers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from helpers import make_cfg, run_cli, wandb_run_info
from omegaconf import OmegaConf, open_dict

from pretrainkit.run.study import flatten, pretrain_overrides

# a miniature study: a few batches per run, pretraining included (debug is shared with it)
TINY = ["experiment=label_efficiency", "debug=fast", "seed=0"]


def test_pretrain_settings_flatten_to_overrides():
    nested = {"trainer": {"max_epochs": 35, "enable_progress_bar": False}, "task": {"t": None}}
    assert flatten(nested) == [
        "trainer.max_epochs=35", "trainer.enable_progress_bar=false", "task.t=null",
    ]  # fmt: skip
    assert flatten({"augment": {"crop_scale": [0.2, 1.0]}}) == ["augment.crop_scale=[0.2,1.0]"]
    assert flatten({}) == []


def test_study_pretraining_takes_the_task_seed_and_recipe(tmp_path: Path):
    cfg = make_cfg(
        "finetune",
        [*TINY, "study.task=rotation", "study.seed=3", "study.pretrain.trainer.max_epochs=7"],
        tmp_path,
    )
    overrides = pretrain_overrides(cfg)
    assert {"task=rotation", "seed=3", "trainer.max_epochs=7", "data.batch_size=256"} <= set(
        overrides
    )
    assert f"logger.wandb.group={cfg.logger.wandb.group}" in overrides  # the study's W&B group
    assert cfg.logger.wandb.group.startswith("label_efficiency-")


def test_study_and_pretrained_together_are_refused(tmp_path: Path):
    from pretrainkit.finetune import finetune

    cfg = make_cfg("finetune", ["study.task=simclr", f"pretrained={tmp_path}"], tmp_path / "ft")
    with open_dict(cfg):
        cfg.study.dir = str(tmp_path / "pretrain")
    with pytest.raises(ValueError, match="study.task=simclr and pretrained="):
        finetune(cfg)


@pytest.mark.slow
def test_miniature_study_end_to_end(tmp_path: Path):
    """SimCLR pretrained for 1 and 2 epochs vs scratch, linear / finetune / LP-FT, two learning
    rates, one seed, plus a fraction of 1.5 whose jobs fail: the others finish, each pretraining
    runs once, scratch runs once per mode and lr (not once per pretraining budget, not as LP-FT),
    each frozen backbone is evaluated by pk-eval once, the report chooses each row's lr, plots
    gain against pretraining epochs, and the command exits non-zero naming the failures."""
    sweep = tmp_path / "study"
    proc = run_cli(
        "pk-finetune", "-m", *TINY, "label_fraction=0.2,1.5", "optim.optimizer.lr=0.003,0.03",
        "study.pretrain.trainer.max_epochs=1,2", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "24 run(s) of this sweep failed" in proc.stderr + proc.stdout

    pretrained = sorted((sweep / "pretrain").glob("simclr-seed0-*/backbone.safetensors"))
    assert len(pretrained) == 2  # once per pretraining budget for the whole study
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    methods = Counter((r["method"], r["lr"]) for r in runs)
    for lr in (0.003, 0.03):
        for mode in ("linear", "finetune", "lp_ft"):
            assert methods[(f"simclr-{mode}", lr)] == 2  # one per pretraining
        for mode in ("linear", "finetune"):
            assert methods[(f"scratch-{mode}", lr)] == 1
    assert len(runs) == 16
    assert {r["weights"] for r in runs if r["task"] == "simclr"} == {
        str(p.resolve()) for p in pretrained
    }
    assert {r["pretrain_epochs"] for r in runs if r["task"] == "simclr"} == {1, 2}
    assert all(len(r["history"]["val/acc"]) == 1 for r in runs)  # debug=fast: one epoch
    assert all(
        len(r["lp_stage"]["history"]["val/acc"]) == 1 for r in runs if "lp_ft" in r["method"]
    )
    assert len(list((sweep / "features").glob("*.pt"))) > 0  # the probes' shared features

    errors = [json.loads(p.read_text()) for p in sweep.glob("*/error.json")]
    assert len(errors) == 24 and all("label_fraction=1.5" in e["error"] for e in errors)

    report = (sweep / "report.md").read_text()
    for method in ("simclr", "scratch-finetune", "lp_ft", "label_fraction=1.5"):
        assert method in report
    # study.eval: pk-eval once per frozen backbone at 20% (not per lr), scratch's random init too
    evals = [json.loads(p.read_text()) for p in sweep.glob("*/eval/eval.json")]
    assert sorted(e["task"] for e in evals) == ["random_init", "simclr", "simclr"]
    assert {e["pretrained"] for e in evals if e["task"] == "simclr"} == {
        str(p.parent.resolve()) for p in pretrained
    }
    assert "## Frozen backbones under pk-eval" in report and "random init (SmallCNN)" in report
    assert "simclr (1 epoch)" in report and "simclr (2 epochs)" in report
    assert "20% (" in report and "gain_vs_pretraining.png" in report
    summary = json.loads((sweep / "summary.json").read_text())
    assert {row["lr"] for row in summary["rows"]} <= {0.003, 0.03}
    assert summary["budget_curve"] and summary["lr_choice"]
    for plot in ("accuracy_vs_labels", "val_curves", "gain_vs_pretraining"):
        assert (sweep / f"{plot}.png").stat().st_size > 1000

    # W&B: one group for every run of the study; tags name task, fraction, mode, lr, seed
    group = runs[0]["wandb"]["group"]
    assert group.startswith("label_efficiency-") and {r["wandb"]["group"] for r in runs} == {group}
    pre_run = wandb_run_info(next((pretrained[0].parent / "wandb").glob("offline-run-*")))
    assert pre_run["group"] == group and "task:simclr" in pre_run["tags"]
    for path in sweep.glob("*/metrics.json"):
        run = json.loads(path.read_text())
        info = wandb_run_info(next((path.parent / "wandb").glob("offline-run-*")))
        expected = {
            f"task:{run['task']}", f"fraction:{run['label_fraction']:g}",
            f"mode:{run['finetune_mode']}", f"lr:{run['lr']:g}", "seed:0",
        }  # fmt: skip
        assert info["group"] == group and expected <= set(info["tags"])
    assert list(sweep.glob("wandb/offline-run-*/run-*.wandb"))  # the report's own W&B run


@pytest.mark.slow
def test_optuna_search_runs_two_trials_and_keeps_the_best(tmp_path: Path):
    sweep = tmp_path / "search"
    run_cli(
        "pk-finetune", "hparams_search=finetune_optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=1", "debug=fast", "logger=csv",
        "label_fraction=0.1", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    trials = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    configs = [yaml.safe_load(p.read_text()) for p in sorted(sweep.glob("*/.hydra/config.yaml"))]
    assert len(trials) == 2 and len(configs) == 2
    lrs = {c["optim"]["optimizer"]["lr"] for c in configs}
    assert len(lrs) == 2 and all(1e-4 <= lr <= 1e-1 for lr in lrs)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t["val/acc_best"] for t in trials))
    assert set(best["best_params"]) == {"optim.optimizer.lr", "optim.weight_decay"}


@pytest.mark.parametrize("launcher", ["joblib", "slurm"])
def test_launcher_configs_compose(launcher: str, tmp_path: Path):
    from hydra import compose, initialize_config_dir

    from pretrainkit.config import config_dir

    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("finetune", [f"launcher={launcher}"], return_hydra_config=True)
    target = OmegaConf.select(cfg, "hydra.launcher._target_")
    assert target.endswith("JoblibLauncher" if launcher == "joblib" else "SlurmLauncher")
    if launcher == "slurm":  # preempted or timed-out jobs are requeued and auto-resume
        assert cfg.hydra.launcher.max_num_timeout == 3


@pytest.mark.slow
def test_study_under_the_joblib_launcher_pretrains_once(tmp_path: Path):
    """Two jobs at a time in separate processes: the file lock lets one pretrain, the other waits."""
    sweep = tmp_path / "study"
    run_cli(
        "pk-finetune", "-m", *TINY, "label_fraction=0.1", "launcher=joblib",
        "finetune_mode=linear,finetune", "optim.optimizer.lr=0.01",  # 2 tasks x 2 modes
        f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert len(list((sweep / "pretrain").glob("simclr-*/backbone.safetensors"))) == 1
    assert len(list(sweep.glob("*/metrics.json"))) == 4 and (sweep / "report.md").is_file()
