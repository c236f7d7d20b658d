"""pk-report: means and stds over seeds, paired gains over scratch, convergence, failures,
plots and the report's own W&B run, on hand-made run directories."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from helpers import wandb_run_info

from pretrainkit.report import collect, main, report, summarize
from pretrainkit.report.collect import epochs_to_reach
from pretrainkit.report.tables import convergence, gains
from pretrainkit.run.files import ERROR, METRICS

PNG = b"\x89PNG\r\n\x1a\n"
GROUP = "label_efficiency-2026-11-24_10-00-00-000000"


def write_run(
    root: Path, name: str, method: str, fraction: float, seed: int, acc: float, **extra: Any
) -> None:
    run = root / name
    run.mkdir(parents=True)
    payload = {
        "method": method, "task": method.split("-")[0], "pretrained": None, "freeze_backbone": True,
        "label_fraction": fraction, "labels_per_class": None, "num_labeled": int(1000 * fraction),
        "seed": seed, "test/acc": acc, "test/f1": acc - 0.05, **extra,
    }  # fmt: skip
    (run / METRICS).write_text(json.dumps(payload))


def write_error(root: Path, name: str, error: str) -> None:
    run = root / name
    run.mkdir(parents=True)
    payload = {"error": error, "traceback": "Traceback...", "overrides": [], "run_dir": str(run)}
    (run / ERROR).write_text(json.dumps(payload))


def history(accs: list[float | None]) -> dict[str, list[Any]]:
    return {"epoch": list(range(1, len(accs) + 1)), "val/acc": accs, "val/loss": [1.0] * len(accs)}


def study(root: Path, **extra: Any) -> None:
    """simclr vs scratch, linear and finetune, at 1% and 10% labels, two seeds, histories."""
    accs = {"simclr-linear": 0.8, "simclr-finetune": 0.85, "scratch-linear": 0.6}
    accs["scratch-finetune"] = 0.7
    for method, acc in accs.items():
        for fraction in (0.01, 0.1):
            for seed in (0, 1):
                curve = history([acc / 2, acc - 0.01 * seed, acc])
                name = f"{method}-{fraction}-{seed}"
                write_run(root, name, method, fraction, seed, acc, history=curve, **extra)


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
    assert "| 1% (10 labeled) | scratch-finetune | 71.0 ± 1.4 |" in table
    rows = json.loads((tmp_path / "out/results.json").read_text())
    assert len(rows) == 6 and {
        "method",
        "pretrained",
        "freeze_backbone",
        "label_fraction",
        "seed",
        "test_acc",
    } <= set(rows[0])
    assert table in (tmp_path / "out/report.md").read_text()
    assert not (tmp_path / "out/results.md").exists()


def test_ties_are_all_bold_and_non_finetune_metrics_skipped(tmp_path: Path):
    write_run(tmp_path, "a", "simclr-linear", 0.1, 0, 0.9)
    write_run(tmp_path, "b", "scratch-linear", 0.1, 0, 0.9)
    write_run(tmp_path, "c", "scratch-finetune", 0.1, 0, 0.5)
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain/metrics.json").write_text(json.dumps({"train/loss": 1.0}))
    table = report(tmp_path, tmp_path)
    assert table.count("**90.0 ± 0.0**") == 2 and "**50.0" not in table
    assert len(collect(tmp_path)) == 3


def test_gain_is_paired_over_common_seeds(tmp_path: Path):
    for seed, acc in [(0, 0.80), (1, 0.90), (2, 0.95)]:  # seed 2 has no scratch partner
        write_run(tmp_path, f"p{seed}", "simclr-linear", 0.01, seed, acc)
    for seed, acc in [(0, 0.70), (1, 0.75)]:
        write_run(tmp_path, f"s{seed}", "scratch-linear", 0.01, seed, acc)
    write_run(tmp_path, "pf", "simclr-finetune", 0.01, 5, 0.9)  # no common seed
    for seed, acc in [(0, 0.6), (1, 0.7)]:
        write_run(tmp_path, f"sf{seed}", "scratch-finetune", 0.01, seed, acc)
    write_run(tmp_path, "alone", "simclr-linear", 0.1, 0, 0.9)  # no scratch at 10%: no row

    by_method = {g["method"]: g for g in gains(collect(tmp_path))}
    assert set(by_method) == {"simclr-linear", "simclr-finetune"}
    linear = by_method["simclr-linear"]
    assert linear["baseline"] == "scratch-linear" and linear["seeds"] == 2
    assert linear["gain"] == pytest.approx((12.5, statistics.stdev([10, 15])))
    finetune = by_method["simclr-finetune"]
    assert finetune["gain"][0] == pytest.approx(90 - 65) and finetune["gain"][1] is None

    report(tmp_path, tmp_path / "out")
    text = (tmp_path / "out/report.md").read_text()
    section = text.split("## What pretraining bought")[1]
    assert "| 1% (10 labeled) | simclr-linear | scratch-linear | +12.5 ± 3.5 | 2 |" in section
    assert "| simclr-finetune | scratch-finetune | +25.0 ± n/a | 0 |" in section


def test_convergence_epochs_from_the_history(tmp_path: Path):
    # final 0.82: 95% is 0.779, first reached at epoch 3; final 0.9: 0.855, at epoch 2
    assert epochs_to_reach(history([0.2, 0.5, 0.78, 0.8, 0.82])) == 3
    assert epochs_to_reach(history([0.5, 0.75, 0.77, 0.8])) == 3  # 0.76 needed: 0.75 is short
    assert epochs_to_reach(history([0.5, None, 0.9, 0.9])) == 3  # epochs without val/acc skipped
    assert epochs_to_reach(history([None])) is None
    write_run(tmp_path, "a", "simclr-linear", 0.01, 0, 0.8, history=history([0.2, 0.5, 0.78, 0.8, 0.82]))  # fmt: skip
    write_run(tmp_path, "b", "simclr-linear", 0.01, 1, 0.8, history=history([0.5, 0.9, 0.9]))
    write_run(tmp_path, "c", "simclr-linear", 0.01, 2, 0.8)  # an older run: no history

    (row,) = convergence(collect(tmp_path))
    assert row["epochs_to_95"] == pytest.approx((2.5, statistics.stdev([3, 2])))
    assert row["epochs"] == 4 and row["seeds"] == 2
    report(tmp_path, tmp_path)
    section = (tmp_path / "report.md").read_text().split("## Convergence")[1]
    assert "| 1% (10 labeled) | simclr-linear | 2.5 ± 0.7 | 4 | 2 |" in section


def test_failed_runs_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_error(tmp_path, "3", "ValueError: label_fraction=1.5 is not in (0, 1]")
    main([str(tmp_path)])  # only failures: still a report
    assert "No fine-tune run" in capsys.readouterr().out
    text = (tmp_path / "report.md").read_text()
    assert "## Failed runs" in text and "- `3`: ValueError: label_fraction=1.5" in text
    assert json.loads((tmp_path / "results.json").read_text()) == []

    write_run(tmp_path, "0", "scratch-linear", 0.1, 0, 0.5)
    write_error(tmp_path, "10", "RuntimeError: out of memory")
    report(tmp_path, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| scratch-linear |" in text
    assert "- `3`: ValueError" in text.split("- `10`: RuntimeError: out of memory")[0]  # job order


def test_no_failures_no_section(tmp_path: Path):
    write_run(tmp_path, "0", "scratch-linear", 0.1, 0, 0.5)
    report(tmp_path, tmp_path)
    assert "Failed runs" not in (tmp_path / "report.md").read_text()


def test_plots_are_pngs_with_a_panel_per_budget_and_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from matplotlib.figure import Figure

    axes: dict[str, int] = {}
    savefig = Figure.savefig

    def spy(fig: Figure, fname: str, *args: Any, **kwargs: Any) -> None:
        name = next(n for n in ("accuracy_vs_labels", "val_curves") if n in str(fname))
        axes[name] = len(fig.axes)
        savefig(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    study(tmp_path)
    report(tmp_path, tmp_path / "out")
    for name in ("accuracy_vs_labels", "val_curves"):
        data = (tmp_path / f"out/{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
        assert f"]({name}.png)" in (tmp_path / "out/report.md").read_text()
    assert axes == {"accuracy_vs_labels": 1, "val_curves": 4}  # 2 modes x 2 budgets


def test_no_history_no_val_curves(tmp_path: Path):
    write_run(tmp_path, "0", "scratch-linear", 0.1, 0, 0.5)
    report(tmp_path, tmp_path)
    assert (tmp_path / "accuracy_vs_labels.png").read_bytes().startswith(PNG)
    assert not (tmp_path / "val_curves.png").exists()
    assert "val_curves.png" not in (tmp_path / "report.md").read_text()


def test_report_run_logged_to_wandb_offline(tmp_path: Path):
    tracking = {"wandb": {"project": "pretrainkit-test", "group": GROUP, "id": "x"}}
    study(tmp_path / "runs", weights="/p/simclr-long/backbone.safetensors", pretrain_epochs=100, **tracking)  # fmt: skip
    for seed in (0, 1):  # a shorter pretraining of simclr: a budget curve
        write_run(tmp_path / "runs", f"short-{seed}", "simclr-linear", 0.01, seed, 0.75, weights="/p/simclr-short/backbone.safetensors", pretrain_epochs=10, **tracking)  # fmt: skip
    out = tmp_path / "out"
    report(tmp_path / "runs", out)  # W&B by default: the runs were logged there

    (run_dir,) = out.glob("wandb/offline-run-*")
    assert list(run_dir.glob("run-*.wandb"))
    info = wandb_run_info(run_dir)
    assert info["job_type"] == "report" and info["group"] == GROUP
    media = run_dir / "files/media"
    for key in ("summary", "runs", "gain", "lr_choice", "labels_saved", "budget_curve"):
        (table,) = media.glob(f"table/report/{key}_*.table.json")
        if key == "summary":
            content = json.loads(table.read_text())
            assert content["columns"][:4] == ["labels", "num_labeled", "method", "acc_mean"]
            assert len(content["data"]) == 9  # 2 budgets x 4 methods + the short simclr at 1%
        if key == "budget_curve":
            content = json.loads(table.read_text())
            assert [row[4] for row in content["data"]] == [10, 100, 100]  # 1%: 10, 100; 10%: 100
    assert len(list(media.glob("images/report/*.png"))) == 3  # + gain_vs_pretraining


def test_no_wandb_flag_and_failing_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import wandb

    study(tmp_path, wandb={"project": "p", "group": "g", "id": "x"})
    main([str(tmp_path), "--no-wandb"])
    assert not (tmp_path / "wandb").exists()

    modes = []

    def broken_init(mode: str, **kwargs: Any) -> None:
        modes.append(mode)
        raise RuntimeError("W&B is down")

    monkeypatch.setattr(wandb, "init", broken_init)
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.warns(UserWarning, match="W&B is down"):
        table = report(tmp_path, tmp_path / "out", wandb=True)
    assert modes == ["online", "offline"]  # retried offline, like WandbLogger
    assert "simclr-linear" in table and (tmp_path / "out/report.md").is_file()


def test_empty_directory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no metrics.json, eval.json or error.json"):
        collect(tmp_path)
    with pytest.raises(SystemExit, match="pk-report: no metrics.json, eval.json or error.json"):
        main([str(tmp_path)])


def test_a_grid_of_two_lrs_is_not_called_inside():
    from pretrainkit.report.sections import edge_sentence

    def row(lrs: list[float], chosen: float) -> dict:
        tried = [{"lr": v, "val_acc": 0.5} for v in lrs]
        return {"method": "m", "decided": True, "lr": chosen, "tried": tried,
                "labels": "10%", "num_labeled": 10}  # fmt: skip

    two = edge_sentence([row([0.001, 0.003], 0.003)])
    assert "fewer than three lrs" in two and "inside its grid" not in two
    three = edge_sentence([row([0.001, 0.003, 0.01], 0.003)])
    assert three == "Every chosen lr lies inside its grid.\n"
    mixed = edge_sentence([row([0.001, 0.003], 0.003), row([0.001, 0.003, 0.01], 0.01)])
    assert "1 of 2 rows" in mixed and "At the edge of the grid" in mixed
