"""Tables end to end, as a user runs them: `make demo-tabular`'s configs in miniature through
the console scripts (VIME pretraining, fine-tunes of it and from scratch, the boosted-tree
and logistic-regression rows in one report), and a backbone pretrained on another table
refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli


@pytest.mark.slow
def test_console_scripts_pretrain_finetune_and_the_tree_baselines(
    mlbench_root: str, tmp_path: Path
):
    root = f"dataset.source.root={mlbench_root}"
    pre = tmp_path / "outputs/pre"
    run_cli(
        "pk-pretrain", "experiment=demo_tabular", root, "debug=fast", f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )  # fmt: skip
    assert (pre / "backbone.safetensors").is_file() and list((pre / "wandb").glob("offline-run-*"))
    sweep = tmp_path / "outputs/ft"
    common = ["experiment=demo_tabular_finetune", root, "labels_per_class=3", "seed=0"]
    run_cli(
        "pk-finetune", "-m", *common, "baseline=gbdt,logreg",
        "++hydra.callbacks.sweep_end.report=false", f"hydra.sweep.dir={sweep}/baselines",
        cwd=tmp_path,
    )  # fmt: skip
    run_cli(
        "pk-finetune", "-m", *common, f"pretrained={pre},null", "finetune_mode=linear,lp_ft",
        "debug=fast", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )  # fmt: skip
    results = [json.loads(p.read_text()) for p in sorted(sweep.rglob("metrics.json"))]
    methods = sorted(r["method"] for r in results)
    # scratch LP-FT is skipped: the demo's study.scratch_modes are linear and finetune
    assert methods == ["raw-gbdt", "raw-logreg", "scratch-linear", "vime-linear", "vime-lp_ft"]
    assert all(r["num_labeled"] == 3 * 26 for r in results)
    trees = next(r for r in results if r["method"] == "raw-gbdt")
    assert 1 / 26 < trees["test/acc"] <= 1 and trees["classical"]["chosen"]
    report = (sweep / "report.md").read_text()
    for method in ("raw-gbdt", "raw-logreg", "vime-lp_ft", "scratch-linear"):
        assert method in report, method


@pytest.mark.slow
def test_a_backbone_of_another_table_is_refused_in_one_line(mlbench_root: str, tmp_path: Path):
    pre = tmp_path / "pre"
    root = f"dataset.source.root={mlbench_root}"
    run_cli(
        "pk-pretrain", "task=scarf", root, "debug=fast", "logger=none", "monitor=none",
        f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )  # fmt: skip
    out = run_cli(
        "pk-finetune", "dataset=mlbench", "dataset.source.table=Shuttle", root,
        f"pretrained={pre}", "logger=none", "debug=fast", f"hydra.run.dir={tmp_path / 'ft'}",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert "the backbone reads rows of 16 numeric columns" in out.stderr
    assert "Traceback" not in out.stderr
