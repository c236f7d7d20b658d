"""`make study-fashion`: the plan of console-script calls, the lr each row's later seeds take
(chosen on the search's validation accuracy, never on test), and the miniature run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, require_fashion_mnist

from pretrainkit.run.fashion_study import (
    FULL,
    TASKS,
    TINY,
    best_pretraining,
    replicate,
    search,
    study_fashion,
)
from pretrainkit.run.files import METRICS
from pretrainkit.run.recipes import Later


def test_the_plan_pretrains_each_task_then_probes_every_backbone():
    plan = study_fashion("S", FULL, out="o")
    commands = [c for c in plan.commands if isinstance(c, list)]
    pretrains = [c for c in commands if c[0] == "pk-pretrain"]
    assert [c[2] for c in pretrains] == [f"task={t}" for t in TASKS]
    assert "trainer.max_epochs=2" in pretrains[2]  # rotation: 4 views a step, fewer epochs
    sweeps = {next(a for a in c if a.startswith("hydra.sweep.dir=")).rsplit("/", 1)[1]: c
              for c in commands if c[0] == "pk-finetune"}  # fmt: skip
    assert sorted(sweeps) == ["linear-100pct", "linear-10pct", "linear-1pct"]
    assert "seed=0,1,2" in sweeps["linear-1pct"] and "seed=0" in sweeps["linear-100pct"]
    sources = ",".join(f"o/runs/S/pretrain/{t}" for t in TASKS)
    for command in sweeps.values():
        assert "launcher=joblib" in command and "hydra.callbacks.sweep_end.report=false" in command
        assert f"pretrained={sources},null" in command
        assert "optim.optimizer.lr=0.003,0.01,0.03" in command  # the linear grid
    assert [type(c) for c in plan.commands[-3:]] == [Later, Later, list]  # search, seeds, report
    assert plan.commands[-1] == ["pk-report", "o/runs/S/finetune"]
    assert plan.report == ("o/runs/S/finetune", "o")


def _linear_run(root: Path, name: str, pretrained: str | None, lr: float, seed: int,
                val: float) -> None:  # fmt: skip
    task = Path(pretrained).name if pretrained else "scratch"
    payload = {
        "method": f"{task}-linear", "finetune_mode": "linear", "task": task,
        "pretrained": pretrained, "weights": f"{pretrained}/backbone.safetensors" if pretrained else None,
        "label_fraction": 0.01, "labels_per_class": None, "num_labeled": 570,
        "seed": seed, "lr": lr, "val/acc_best": val, "test/acc": 1.0 - val,
    }  # fmt: skip
    (root / name).mkdir(parents=True)
    (root / name / METRICS).write_text(json.dumps(payload))


def test_the_search_fine_tunes_the_pretraining_best_on_validation(tmp_path: Path):
    run = tmp_path / "run"
    pre = {t: str(tmp_path / "pre" / t) for t in TASKS}
    for tag in ("1pct", "10pct"):
        linear = run / f"finetune/linear-{tag}"
        # val (lr 0.01, lr 0.03) per seed; test is 1 - val, so choosing on test would invert it
        vals = {"simclr": (0.70, 0.72), "vicreg": (0.75, 0.60), "rotation": (0.74, 0.74)}
        if tag == "10pct":
            vals["rotation"] = (0.80, 0.50)
        k = 0
        for task, (v1, v2) in vals.items():
            for seed in (0, 1):
                _linear_run(linear, f"{k}", pre[task], 0.01, seed, v1)
                _linear_run(linear, f"{k + 1}", pre[task], 0.03, seed, v2)
                k += 2
        _linear_run(linear, f"{k}", None, 0.01, 0, 0.99)  # random weights never count
    assert best_pretraining(run / "finetune/linear-1pct") == pre["vicreg"]
    assert best_pretraining(run / "finetune/linear-10pct") == pre["rotation"]

    def finetune(sweep: str, *overrides: str, jobs: int = 2) -> list[str]:
        return [sweep, *overrides, f"jobs={jobs}"]

    commands = {c[0]: c[1:] for c in search(str(run), FULL, finetune)}
    assert sorted(commands) == [
        "search-10pct-finetune", "search-10pct-lp_ft", "search-1pct-finetune", "search-1pct-lp_ft"
    ]  # fmt: skip
    assert f"pretrained={pre['vicreg']},null" in commands["search-1pct-finetune"]
    assert f"pretrained={pre['vicreg']}" in commands["search-1pct-lp_ft"]
    assert f"pretrained={pre['rotation']}" in commands["search-10pct-lp_ft"]
    for command in commands.values():
        assert "seed=0" in command and "optim.optimizer.lr=0.001,0.003,0.01" in command
    assert "trainer.limit_train_batches=50" in commands["search-1pct-finetune"]


def _search_run(root: Path, name: str, pretrained: str | None, mode: str, fraction: float,
                lr: float, val: float, test: float) -> None:  # fmt: skip
    weights = f"{pretrained}/backbone.safetensors" if pretrained else None
    payload = {
        "method": f"{'simclr' if pretrained else 'scratch'}-{mode}", "finetune_mode": mode,
        "task": "simclr" if pretrained else "scratch", "pretrained": pretrained, "weights": weights,
        "label_fraction": fraction, "labels_per_class": None, "num_labeled": int(57000 * fraction),
        "seed": 0, "lr": lr, "val/acc_best": val, "test/acc": test,
    }  # fmt: skip
    (root / name).mkdir(parents=True)
    (root / name / METRICS).write_text(json.dumps(payload))


def test_later_seeds_take_the_lr_chosen_on_validation(tmp_path: Path):
    run = tmp_path / "run"
    simclr = str(tmp_path / "pre/simclr")
    for fraction, tag in ((0.01, "1pct"), (0.1, "10pct")):
        sweep = run / f"finetune/search-{tag}-finetune"
        for k, lr in enumerate((0.001, 0.003, 0.01)):
            # scratch: the best test is at 0.01, the best validation at 0.003
            _search_run(sweep, f"s{k}", None, "finetune", fraction, lr, [0.5, 0.7, 0.6][k], [0.5, 0.6, 0.9][k])  # fmt: skip
            _search_run(sweep, f"p{k}", simclr, "finetune", fraction, lr, [0.8, 0.7, 0.6][k], 0.7)  # fmt: skip
    (run / "finetune/linear-1pct/0").mkdir(parents=True)  # linear sweeps are not searched here

    def finetune(sweep: str, *overrides: str, jobs: int = 2) -> list[str]:
        return [sweep, *overrides, f"jobs={jobs}"]

    commands = {c[0]: c[1:] for c in replicate(str(run), FULL, finetune)}
    assert sorted(commands) == [
        "full-finetune-lr0.001", "full-finetune-lr0.003",
        "seeds-10pct-finetune-lr0.001", "seeds-10pct-finetune-lr0.003",
        "seeds-1pct-finetune-lr0.001", "seeds-1pct-finetune-lr0.003",
    ]  # fmt: skip
    scratch = commands["seeds-1pct-finetune-lr0.003"]
    assert "pretrained=null" in scratch and "seed=1,2" in scratch
    assert "optim.optimizer.lr=0.003" in scratch and "trainer.limit_train_batches=50" in scratch
    assert f"pretrained={simclr}" in commands["seeds-10pct-finetune-lr0.001"]
    full = commands["full-finetune-lr0.003"]  # 100%: one seed, the lr chosen at 10%
    assert "label_fraction=1.0" in full and "seed=0" in full and "pretrained=null" in full
    assert "jobs=1" in full and "jobs=2" in scratch  # one job alone gets both cores


@pytest.mark.slow
def test_the_miniature_study_runs_through_the_console_scripts(tmp_path: Path):
    """Every call of the recipe at a few steps each (~4 minutes here): 3 pretrainings, the
    linear, search and later-seed sweeps under the joblib launcher, and the report."""
    require_fashion_mnist()
    code = (
        "import sys; from pretrainkit.run import recipes; "
        "from pretrainkit.run.fashion_study import TINY, study_fashion; "
        f"sys.exit(recipes.run('study-fashion', study_fashion('T', TINY, out={str(tmp_path)!r})))"
    )
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for method in ("simclr-linear", "vicreg-linear", "rotation-linear", "scratch-finetune",
                   "scratch-linear"):  # fmt: skip
        assert f"| {method} |" in report
    for mode in ("finetune", "lp_ft"):  # of the pretraining best on validation
        assert sum(f"| {t}-{mode} |" in report for t in TASKS) >= 1
    assert "## Pretraining" in report and (tmp_path / "pretraining_knn.png").is_file()
    rows = json.loads((tmp_path / "results.json").read_text())
    later = [r for r in rows if r["seed"] == 1 and r["mode"] != "linear"]
    assert later and all(r["chosen"] for r in later)  # the later seeds ran at the chosen lr
    assert len(TINY.seeds) == 2
