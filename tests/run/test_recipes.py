"""`make demo`, `make demo-text` and `make study` run the recipes in pretrainkit.run.recipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO

from pretrainkit.run import recipes


def test_demo_finetunes_and_reports_its_own_pretraining():
    plan = recipes.demo("S", "0.001,0.01")
    pretrain, finetune, report = plan.commands
    run = "outputs/demo/runs/S"
    assert pretrain[:2] == ["pk-pretrain", "experiment=demo"]
    assert f"hydra.run.dir={run}/pretrain" in pretrain
    assert f"pretrained={run}/pretrain,null" in finetune and "-m" in finetune
    assert "optim.optimizer.lr=0.001,0.01" in finetune
    assert f"hydra.sweep.dir={run}/finetune" in finetune
    assert report[:2] == ["pk-report", f"{run}/finetune"]
    assert (
        recipes.demo_text("S", "0.05").commands[1][-1]
        == "hydra.sweep.dir=outputs/demo_text/runs/S/finetune"
    )


def test_a_failing_step_stops_the_recipe_with_its_exit_status(tmp_path: Path, capsys):
    def python(code: str) -> list[str]:
        return [sys.executable, "-c", code]

    done, copied = tmp_path / "after", tmp_path / "copied"
    plan = recipes.Recipe(
        [python("pass"), python("import sys; sys.exit(3)"), python(f"open({str(done)!r}, 'w')")],
        copies=[(__file__, str(copied))],
        result="nowhere",
    )
    assert recipes.run("demo", plan) == 3
    assert not done.exists() and not copied.exists()
    assert "exited with 3" in capsys.readouterr().err


def test_make_targets_call_the_recipes():
    dry = subprocess.run(
        ["make", "-n", "demo", "demo-text", "study", "STUDY_ARGS=seed=0"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for target in ("demo ", "demo-text ", "study "):
        assert f"-m pretrainkit.run.recipes {target}" in dry
    assert dry.rstrip().endswith("-- seed=0")
