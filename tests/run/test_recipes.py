"""`make demo`, `make demo-text` and `make study` run the recipes in pretrainkit.run.recipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO

from pretrainkit.run import recipes


def test_demo_finetunes_and_reports_its_own_pretraining():
    plan = recipes.demo("S", "0.001,0.01")
    pretrain, finetune = plan.commands  # the sweep reports itself (once): no pk-report
    run = "outputs/demo/runs/S"
    assert pretrain[:2] == ["pk-pretrain", "experiment=demo"]
    assert f"hydra.run.dir={run}/pretrain" in pretrain
    assert f"pretrained={run}/pretrain,null" in finetune and "-m" in finetune
    assert "optim.optimizer.lr=0.001,0.01" in finetune
    assert f"hydra.sweep.dir={run}/finetune" in finetune
    assert plan.report == (f"{run}/finetune", "outputs/demo")


def test_demo_text_fits_the_classical_floor_into_the_sweep_it_reports():
    plan = recipes.demo_text("S", "0.05")
    pretrain, floor, finetune = plan.commands
    run = "outputs/demo_text/runs/S"
    assert pretrain[:2] == ["pk-pretrain", "experiment=demo_text"]
    assert floor[:3] == ["pk-finetune", "-m", "experiment=demo_text_finetune"]
    assert {"baseline=bow_logreg", "label_fraction=0.05", "seed=0,1,2"} <= set(floor)
    assert "++hydra.callbacks.sweep_end.report=false" in floor  # the sweep's report shows it
    assert floor[-1] == f"hydra.sweep.dir={run}/finetune/bow_logreg"
    assert finetune[-1] == f"hydra.sweep.dir={run}/finetune" and "seed=0,1,2" in finetune
    assert "finetune_mode=linear,finetune,lp_ft" in finetune  # every mode at every lr: fair
    assert f"optim.optimizer.lr={recipes.TEXT_LRS}" in finetune and "launcher=joblib" in finetune
    assert plan.report == (f"{run}/finetune", "outputs/demo_text")
    assert [c[3] for c in plan.commands[1:]] == ["logger.wandb.group=demo-text-S"] * 2


def test_a_failing_step_stops_the_recipe_with_its_exit_status(tmp_path: Path, capsys):
    def python(code: str) -> list[str]:
        return [sys.executable, "-c", code]

    done, copied = tmp_path / "after", tmp_path / "copied"
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "report.md").write_text("table")
    plan = recipes.Recipe(
        [python("pass"), python("import sys; sys.exit(3)"), python(f"open({str(done)!r}, 'w')")],
        report=(str(tmp_path / "sweep"), str(copied)),
        result="nowhere",
    )
    assert recipes.run("demo", plan) == 3
    assert not done.exists() and not copied.exists()
    assert "exited with 3" in capsys.readouterr().err


def test_make_targets_call_the_recipes():
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo", "demo-text", "study", "STUDY_ARGS=seed=0"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for target in ("demo ", "demo-text ", "study "):
        assert f"-m pretrainkit.run.recipes {target}" in dry
    assert dry.rstrip().endswith("-- seed=0"), dry  # under `make test`, make -n runs as make[1]


def test_a_finished_recipe_copies_its_sweeps_report(tmp_path: Path):
    sweep, dest = tmp_path / "sweep", tmp_path / "out"
    (sweep / "0").mkdir(parents=True)
    for name in ("report.md", "results.json", "summary.json", "accuracy_vs_labels.png"):
        (sweep / name).write_text(name)
    plan = recipes.Recipe([[sys.executable, "-c", "pass"]], report=(str(sweep), str(dest)))
    assert recipes.run("demo", plan) == 0
    assert sorted(p.name for p in dest.iterdir()) == [
        "accuracy_vs_labels.png", "report.md", "results.json", "summary.json"
    ]  # fmt: skip
