"""pk-report aggregates metrics.json files: means and standard deviations over seeds."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from pretrainkit.report import collect, main, summarize


def write_run(root: Path, name: str, method: str, fraction: float, seed: int, acc: float) -> None:
    run = root / name
    run.mkdir(parents=True)
    payload = {
        "method": method, "task": method.split("-")[0], "pretrained": None, "freeze_backbone": True,
        "label_fraction": fraction, "labels_per_class": None, "num_labeled": int(1000 * fraction),
        "seed": seed, "test/acc": acc, "test/f1": acc - 0.05,
    }  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(payload))


def test_means_and_stds_over_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    for seed, acc in enumerate([0.80, 0.84, 0.88]):
        write_run(tmp_path, f"a{seed}", "simclr-linear", 0.01, seed, acc)
    for seed, acc in enumerate([0.70, 0.72]):
        write_run(tmp_path, f"b{seed}", "scratch-finetune", 0.01, seed, acc)
    write_run(tmp_path, "c0", "scratch-finetune", 0.1, 0, 0.9)

    summary = {(s["labels"], s["method"]): s for s in summarize(collect(tmp_path))}
    linear = summary[("1%", "simclr-linear")]
    assert linear["acc"] == pytest.approx((84.0, statistics.stdev([80, 84, 88])))
    assert linear["seeds"] == 3
    assert summary[("1%", "scratch-finetune")]["acc"] == pytest.approx(
        (71.0, statistics.stdev([70, 72]))
    )
    assert summary[("10%", "scratch-finetune")]["acc"] == pytest.approx((90.0, 0.0))

    main([str(tmp_path), "--out", str(tmp_path / "out")])
    table = capsys.readouterr().out
    assert "**84.0 ± 4.0**" in table  # best at 1% in bold
    rows = json.loads((tmp_path / "out/results.json").read_text())
    assert len(rows) == 6 and {
        "method",
        "pretrained",
        "freeze_backbone",
        "label_fraction",
        "seed",
        "test_acc",
    } <= set(rows[0])


def test_empty_directory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        collect(tmp_path)
