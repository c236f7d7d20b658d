"""pk-report's fair-baseline rules on hand-made runs: rows per pretraining source, the lr chosen
on validation only, the convergence rule, lp_ft rows, the budget curve, labels saved,
classical baselines and summary.json."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from pretrainkit.report import collect, report, summarize
from pretrainkit.report.budget import budget_curve
from pretrainkit.report.convergence import still_improving
from pretrainkit.report.labels_saved import labels_saved, labels_to_match
from pretrainkit.report.plots import LINE_STYLES, MODES
from pretrainkit.report.select import choose, lr_choice
from pretrainkit.report.tables import convergence, floor_gains, gains
from pretrainkit.run.files import METRICS

SIMCLR_A = "/p/pretrain/simclr-seed0-aa/backbone.safetensors"
SIMCLR_B = "/p/pretrain/simclr-seed1-bb/backbone.safetensors"


def run(
    root: Path, name: str, method: str, fraction: float, seed: int, acc: float, **extra: Any
) -> None:
    """A fine-tune's metrics.json; `task` from the method unless given."""
    task = extra.pop("task", method.rpartition("-")[0])
    weights = extra.pop("weights", None)
    payload = {
        "method": method, "task": task, "weights": weights,
        "pretrained": str(Path(weights).parent) if weights else None,
        "label_fraction": fraction, "labels_per_class": None, "num_labeled": round(1000 * fraction),
        "seed": seed, "test/acc": acc, "test/f1": acc - 0.05, **extra,
    }  # fmt: skip
    (root / name).mkdir(parents=True)
    (root / name / METRICS).write_text(json.dumps(payload))


def history(accs: list[float | None]) -> dict[str, list[Any]]:
    return {"epoch": list(range(1, len(accs) + 1)), "val/acc": accs, "val/loss": [1.0] * len(accs)}


# --- convergence ---------------------------------------------------------------------------


def test_still_improving_rule():
    rising = [0.3 + 0.02 * e for e in range(20)]  # k = 4: +8 points over the last 4
    assert still_improving(history(rising)) is True
    assert still_improving(history([0.7] * 20)) is False
    noise = [0.02, -0.01, 0.015, -0.02, 0.0, 0.02, -0.015, 0.01, -0.02, 0.005]
    plateau = [0.7 + noise[e % 10] for e in range(20)]  # +-2 points around 0.7
    assert max(plateau) - min(plateau) == pytest.approx(0.04)
    assert still_improving(history(plateau)) is False
    early_stopped = [0.3, 0.45, 0.6, 0.7, 0.76, 0.79, 0.8, 0.8, 0.81, 0.8, 0.8, 0.8]
    assert still_improving(history(early_stopped)) is False  # k = 3: 0.80 vs 0.803
    assert still_improving(history(early_stopped[:6])) is True  # the same run cut while rising
    # peaked early, overfit, partly recovered (a digits 1% scratch run at lr 0.003): rising at
    # the end, but its best epoch (and best.ckpt) lies far behind: not flagged
    peaked = [0.62, 0.7] + [0.6] * 14 + [0.64] * 4
    assert still_improving(history(peaked)) is False
    assert still_improving(history([0.62, 0.7] + [0.6] * 14 + [0.72] * 4)) is True  # a new best


def test_convergence_window_threshold_and_too_short():
    # E = 15 -> k = 3; last 3 beat the 3 before by 0.011 (flagged) or 0.009 (not)
    assert still_improving(history([0.5] * 12 + [0.511] * 3)) is True
    assert still_improving(history([0.5] * 12 + [0.509] * 3)) is False
    # E = 25 -> k = 5: the window is 5, so a rise confined to the last 3 epochs is diluted
    assert still_improving(history([0.5] * 22 + [0.515] * 3)) is False  # +0.9 points over 5
    assert still_improving(history([0.5] * 22 + [0.52] * 3)) is True  # +1.2 points over 5
    assert still_improving(history([0.1, 0.2, 0.3, 0.4, 0.5])) is None  # E = 5 < 2k = 6
    assert still_improving(history([0.1, None, 0.2, 0.3, 0.4, 0.5, None])) is None  # None skipped
    assert still_improving(None) is None


def test_not_converged_column_and_baseline_warning(tmp_path: Path):
    rising = history([0.1 * e for e in range(1, 9)])
    flat = history([0.5] * 8)
    for seed, curve in enumerate([rising, rising, flat]):
        run(tmp_path, f"s{seed}", "scratch-finetune", 0.01, seed, 0.5, history=curve)
    run(tmp_path, "short", "simclr-finetune", 0.01, 0, 0.8, history=history([0.5, 0.6]))
    (sc, sim) = sorted(convergence(collect(tmp_path)), key=lambda c: c["method"])
    assert (sc["not_converged"], sc["seeds"], sc["too_short"]) == (2, 3, 0)
    assert (sim["not_converged"], sim["too_short"]) == (0, 1)

    table = report(tmp_path, tmp_path / "out", wandb=False)
    last = table.splitlines()[-1]
    assert last.startswith("warning: baseline scratch-finetune at 1% (10 labeled)")
    assert "(2/3 seeds)" in last
    text = (tmp_path / "out/report.md").read_text().split("## Convergence")[1]
    assert "| 2/3 seeds |" in text and "| 0/1 seeds (1 too short) |" in text
    assert "Not converged (still improving when its epochs ran out): `scratch-finetune`" in text
    runs = json.loads((tmp_path / "out/results.json").read_text())
    assert sorted(str(r["converged"]) for r in runs) == ["False", "False", "None", "True"]


def test_no_warning_when_the_baseline_converged(tmp_path: Path):
    run(tmp_path, "s", "scratch-finetune", 0.01, 0, 0.5, history=history([0.5] * 8))
    run(
        tmp_path, "p", "simclr-finetune", 0.01, 0, 0.8, history=history([0.1 * e for e in range(8)])
    )
    table = report(tmp_path, tmp_path, wandb=False)
    assert "warning" not in table  # a pretrained row still improving understates, not overstates
    assert (
        "Not converged (still improving when its epochs ran out): `simclr-finetune`"
        in (tmp_path / "report.md").read_text()
    )


# --- row identity ----------------------------------------------------------------------------


def test_two_pretrainings_and_two_bare_files_stay_apart(tmp_path: Path):
    for seed, (a, b) in enumerate([(0.80, 0.70), (0.84, 0.72)]):
        run(tmp_path, f"a{seed}", "simclr-linear", 0.01, seed, a, weights=SIMCLR_A, pretrain_seed=0)  # fmt: skip
        run(tmp_path, f"b{seed}", "simclr-linear", 0.01, seed, b, weights=SIMCLR_B, pretrain_seed=1)  # fmt: skip
        run(tmp_path, f"s{seed}", "scratch-linear", 0.01, seed, 0.6)
    run(tmp_path, "a-again", "simclr-linear", 0.01, 0, 0.80, weights=SIMCLR_A, pretrain_seed=0)
    for stem in ("x", "y"):  # two bare weights files in one folder, no metadata
        run(tmp_path, f"u{stem}", "unknown-linear", 0.01, 0, 0.5, task="unknown", weights=f"/w/{stem}.pt")  # fmt: skip
    for folder in ("one", "two"):  # bare files with one stem: the folder tells them apart
        run(tmp_path, f"v{folder}", "unknown-finetune", 0.01, 0, 0.5, task="unknown", weights=f"/v/{folder}/backbone.pt")  # fmt: skip

    summary = {s["method"]: s for s in summarize(collect(tmp_path))}
    assert set(summary) == {
        "simclr[seed0-aa]-linear", "simclr[seed1-bb]-linear", "scratch-linear",
        "unknown[x]-linear", "unknown[y]-linear",
        "unknown[one/backbone]-finetune", "unknown[two/backbone]-finetune",
    }  # fmt: skip
    a = summary["simclr[seed0-aa]-linear"]
    assert a["source"] == SIMCLR_A and a["seeds"] == 2  # three runs, two fine-tune seeds
    assert a["acc"] == pytest.approx((82.0, statistics.stdev([80, 84])))
    by_source = {g["source"]: g["gain"] for g in gains(collect(tmp_path)) if g["task"] == "simclr"}
    assert by_source[SIMCLR_A] == pytest.approx((22.0, statistics.stdev([20, 24])))
    assert by_source[SIMCLR_B] == pytest.approx((11.0, statistics.stdev([10, 12])))

    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text()
    assert "| seeds | pretrain seed |" in text and "pretrain epochs" not in text
    assert "| simclr[seed1-bb]-linear | 71.0 ± 1.4 | 66.0 ± 1.4 | 2 | 1 |" in text


def test_one_source_per_task_keeps_the_task_name_and_old_runs_fall_back(tmp_path: Path):
    run(tmp_path, "new", "simclr-linear", 0.01, 0, 0.8, weights=SIMCLR_A)
    old = {"pretrained": str(Path(SIMCLR_A).parent)}  # before the weights key: the directory
    run(tmp_path, "old", "byol-linear", 0.01, 0, 0.7, **old)
    rows = collect(tmp_path)
    assert {r["label"] for r in rows} == {"simclr-linear", "byol-linear"}
    assert {r["source"] for r in rows} == {SIMCLR_A, str(Path(SIMCLR_A).parent)}


# --- lr chosen on validation -----------------------------------------------------------------


class NoTest(dict):
    """A run whose test metrics raise when read: lr selection must not look at them."""

    def __getitem__(self, key: str) -> Any:
        if key.startswith("test"):
            raise AssertionError(f"lr selection read {key}")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 (dict.get skips __getitem__)


def test_lr_is_chosen_on_validation_never_on_test(tmp_path: Path):
    # lr 0.1 has the better test accuracy but the worse validation accuracy
    for seed in (0, 1):
        run(tmp_path, f"lo{seed}", "simclr-linear", 0.01, seed, 0.70 + 0.02 * seed, lr=0.01, **{"val/acc_best": 0.80})  # fmt: skip
        run(tmp_path, f"hi{seed}", "simclr-linear", 0.01, seed, 0.90, lr=0.1, **{"val/acc_best": 0.60 + 0.3 * seed})  # fmt: skip
        run(tmp_path, f"nv{seed}", "simclr-linear", 0.01, seed, 0.99, lr=1.0)  # no val: unchoosable
    rows = collect(tmp_path)
    lr, tried, decided = choose([NoTest(r) for r in rows])
    assert decided and lr == 0.01  # 0.80 beats (0.60 + 0.90) / 2 = 0.75
    assert [(t["lr"], t["val_acc"]) for t in tried] == [
        (0.01, pytest.approx(0.80)), (0.1, pytest.approx(0.75)), (1.0, None),
    ]  # fmt: skip
    (row,) = summarize(rows)
    assert row["lr"] == 0.01 and row["acc"] == pytest.approx((71.0, statistics.stdev([70, 72])))

    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text()
    assert "| 1% (10 labeled) | simclr-linear | **71.0 ± 1.4** | 66.0 ± 1.4 | 2 | 0.01 |" in text
    grid = text.split("## Learning rate per row")[1]
    assert "| simclr-linear | 0.01 | **0.01: 80.0** · 0.1: 75.0 · 1: n/a |" in grid
    runs = json.loads((tmp_path / "out/results.json").read_text())
    assert sorted(r["lr"] for r in runs if r["chosen"]) == [0.01, 0.01]
    assert "How much pretraining" not in text  # one pretraining budget: no curve
    assert not (tmp_path / "out/gain_vs_pretraining.png").exists()


def test_lrs_run_on_different_seeds_are_compared_on_the_seeds_they_share(tmp_path: Path):
    # a grid on seed 0, then seeds 1 and 2 at lr 0.01 only: 0.01 must not win on its extra seeds
    run(tmp_path, "a0", "simclr-finetune", 0.01, 0, 0.70, lr=0.003, **{"val/acc_best": 0.80})
    for seed, val in ((0, 0.78), (1, 0.90), (2, 0.90)):
        run(tmp_path, f"b{seed}", "simclr-finetune", 0.01, seed, 0.99, lr=0.01, **{"val/acc_best": val})  # fmt: skip
    lr, tried, decided = choose([NoTest(r) for r in collect(tmp_path)])
    assert decided and lr == 0.003  # seed 0: 0.80 > 0.78 (all seeds of 0.01 would say 0.86)
    assert [(t["lr"], t["val_acc"], t["seeds"]) for t in tried] == [
        (0.003, pytest.approx(0.80), 1), (0.01, pytest.approx(0.78), 3),
    ]  # fmt: skip
    report(tmp_path, tmp_path / "out", wandb=False)
    grid = (tmp_path / "out/report.md").read_text().split("## Learning rate per row")[1]
    assert "**0.003: 80.0 (1 seed)** · 0.01: 78.0 |" in grid


def test_val_acc_is_the_fallback_and_no_val_means_no_choice(tmp_path: Path):
    run(tmp_path, "a", "scratch-linear", 0.01, 0, 0.5, lr=0.1, **{"val/acc": 0.6})
    run(tmp_path, "b", "scratch-linear", 0.01, 0, 0.9, lr=0.2, **{"val/acc": 0.4})
    run(tmp_path, "c", "scratch-finetune", 0.01, 0, 0.5, lr=0.1)
    run(tmp_path, "d", "scratch-finetune", 0.01, 0, 0.9, lr=0.2)
    choices = {c["method"]: c for c in lr_choice(collect(tmp_path))}
    assert choices["scratch-linear"]["lr"] == 0.1
    assert choices["scratch-finetune"]["decided"] is False
    (row,) = summarize(collect(tmp_path))  # the undecided row reports nothing
    assert row["method"] == "scratch-linear" and row["acc"][0] == pytest.approx(50.0)


# --- labels saved ----------------------------------------------------------------------------

CURVE = [(10, 50.0), (100, 70.0), (1000, 90.0)]


def test_labels_to_match_interpolates_in_log_labels():
    inside = labels_to_match(CURVE, 60.0)  # halfway from 50 to 70: sqrt(10 * 100), not 55
    assert inside.kind == "within" and inside.labels == pytest.approx(math.sqrt(10 * 100))
    assert labels_to_match(CURVE, 80.0).labels == pytest.approx(10**2.5)
    assert labels_to_match(CURVE, 70.0).labels == pytest.approx(100)
    below = labels_to_match(CURVE, 45.0)
    assert (below.kind, below.labels) == ("at_most", 10)
    beyond = labels_to_match(CURVE, 95.0)
    assert (beyond.kind, beyond.labels, beyond.largest) == ("beyond", None, 1000)


def test_labels_to_match_takes_the_first_crossing_of_a_non_monotone_curve():
    bumpy = [(10, 50.0), (100, 70.0), (1000, 65.0), (10000, 90.0)]
    assert labels_to_match(bumpy, 68.0).labels == pytest.approx(10**1.9)  # not past 1000
    assert labels_to_match(bumpy, 80.0).labels == pytest.approx(10**3.6)  # 65 -> 90 crossing


def fair_study(root: Path) -> None:
    """Scratch linear and finetune at 10/100/1000 labels, simclr linear/finetune/lp_ft; two
    seeds; rising-then-flat histories."""
    curve = history([0.2, 0.4] + [0.5] * 6)
    scratch = {"scratch-linear": (0.50, 0.70, 0.90), "scratch-finetune": (0.40, 0.72, 0.85)}
    for method, accs in scratch.items():
        for fraction, acc in zip((0.01, 0.1, 1.0), accs, strict=True):
            for seed in (0, 1):
                run(root, f"{method}-{fraction}-{seed}", method, fraction, seed, acc, history=curve)
    pretrained = {
        ("simclr-linear", 0.01): (0.60, 0.64), ("simclr-linear", 1.0): (0.95, 0.95),
        ("simclr-finetune", 0.01): (0.45, 0.45), ("simclr-lp_ft", 0.01): (0.66, 0.66),
    }  # fmt: skip
    for (method, fraction), accs in pretrained.items():
        for seed, acc in enumerate(accs):
            mode = method.rpartition("-")[2]
            run(root, f"{method}-{fraction}-{seed}", method, fraction, seed, acc, history=curve, weights=SIMCLR_A, finetune_mode=mode)  # fmt: skip


def test_labels_saved_per_row_with_the_seed_range(tmp_path: Path):
    fair_study(tmp_path)
    rows = collect(tmp_path)
    saved = {(e["method"], e["num_labeled"]): e for e in labels_saved(rows, summarize(rows))}
    best = [(10, 50.0), (100, 72.0), (1000, 90.0)]  # per budget, the better scratch mode

    def expected(acc: float) -> float:
        return 10 ** (1 + (acc - 50) / 22)

    linear = saved[("simclr-linear", 10)]
    assert linear["match"] == "within"
    assert linear["scratch_labels"] == pytest.approx(expected(62))
    assert linear["ratio"] == pytest.approx(expected(62) / 10)
    assert labels_to_match(best, 62).labels == pytest.approx(expected(62))
    assert [m["labels"] for m in linear["seed_range"]] == pytest.approx(
        [expected(60), expected(64)]
    )
    assert saved[("simclr-finetune", 10)]["match"] == "at_most"
    assert saved[("simclr-linear", 1000)]["match"] == "beyond"
    assert ("scratch-linear", 10) not in saved

    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text().split("## Labels saved")[1]
    assert "- `simclr-linear` with 10 labels ≈ scratch with 35 labels (3.5×; seeds 28–43)" in text
    assert (
        "- `simclr-finetune` with 10 labels ≈ scratch with ≤ 10 labels (≤ 1.0×; seeds ≤10)" in text
    )
    assert "- `simclr-linear` with 1000 labels ≈ scratch with more than 1000 labels (> 1.0×; seeds >1000)" in text  # fmt: skip
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert set(summary) == {
        "rows", "gains", "convergence", "lr_choice", "labels_saved", "budget_curve", "floor",
        "classical", "pretraining", "frozen",
    }  # fmt: skip
    (row,) = [e for e in summary["labels_saved"] if e["method"] == "simclr-linear" and e["num_labeled"] == 10]  # fmt: skip
    assert row["scratch_labels"] == pytest.approx(expected(62))


def test_lp_ft_rows_gain_over_scratch_finetune_and_get_their_own_panels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    assert "lp_ft" in MODES and len(set(LINE_STYLES.values())) == len(LINE_STYLES) == 3
    styles: dict[str, str] = {}
    errorbar = Axes.errorbar

    def spy_errorbar(ax: Axes, *args: Any, **kwargs: Any) -> Any:
        styles[kwargs["label"]] = kwargs["linestyle"]
        return errorbar(ax, *args, **kwargs)

    panels: dict[str, int] = {}
    savefig = Figure.savefig

    def spy_savefig(fig: Figure, fname: str, *args: Any, **kwargs: Any) -> None:
        panels[next(n for n in ("accuracy", "val_curves") if n in str(fname))] = len(fig.axes)
        savefig(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Axes, "errorbar", spy_errorbar)
    monkeypatch.setattr(Figure, "savefig", spy_savefig)
    fair_study(tmp_path)
    by_method = {g["method"]: g for g in gains(collect(tmp_path)) if g["num_labeled"] == 10}
    assert by_method["simclr-lp_ft"]["baseline"] == "scratch-finetune"
    assert by_method["simclr-lp_ft"]["gain"] == pytest.approx((26.0, 0.0))  # 66 - 40
    assert by_method["simclr-linear"]["baseline"] == "scratch-linear"
    report(tmp_path, tmp_path / "out", wandb=False)
    assert styles["simclr-lp_ft"] not in {styles["simclr-linear"], styles["simclr-finetune"]}
    assert panels == {"accuracy": 1, "val_curves": 9}  # 3 modes x 3 budgets


# --- budget curve ----------------------------------------------------------------------------


def test_budget_curve_pools_pretrain_seeds_per_epoch_budget(tmp_path: Path):
    sources = {  # weights: (pretrain_epochs, pretrain_seed, acc per fine-tune seed)
        "/p/e10-s0/backbone.safetensors": (10, 0, (0.6, 0.7)),
        "/p/e100-s0/backbone.safetensors": (100, 0, (0.7, 0.8)),
        "/p/e100-s1/backbone.safetensors": (100, 1, (0.8, 0.8)),
    }
    for i, (weights, (epochs, pseed, accs)) in enumerate(sources.items()):
        for seed, acc in enumerate(accs):
            run(tmp_path, f"p{i}-{seed}", "simclr-linear", 0.01, seed, acc, weights=weights, pretrain_epochs=epochs, pretrain_seed=pseed)  # fmt: skip
    for seed, acc in enumerate((0.5, 0.6)):
        run(tmp_path, f"s{seed}", "scratch-linear", 0.01, seed, acc)
    run(tmp_path, "byol", "byol-linear", 0.01, 0, 0.9, weights="/p/byol/backbone.safetensors", pretrain_epochs=10)  # fmt: skip

    points = budget_curve(collect(tmp_path))
    assert [(p["task"], p["pretrain_epochs"]) for p in points] == [("simclr", 10), ("simclr", 100)]
    short, long = points
    assert short["gain"] == pytest.approx((10.0, 0.0)) and short["pairs"] == 2
    assert long["gain"] == pytest.approx((22.5, statistics.stdev([20, 20, 30, 20])))
    assert long["pairs"] == 4 and long["pretrain_seeds"] == [0, 1]
    assert long["acc"][0] == pytest.approx(77.5)

    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text()
    section = text.split("## How much pretraining is enough")[1]
    assert "| simclr | linear | 1% (10 labeled) | 100 | +22.5 ± 5.0 | 77.5 ± 5.0 | 4 |" in section
    assert "![gain vs pretraining](gain_vs_pretraining.png)" in text
    assert (tmp_path / "out/gain_vs_pretraining.png").read_bytes().startswith(b"\x89PNG")
    assert "| pretrain seed | pretrain epochs |" in text


def test_summary_json_has_no_nan(tmp_path: Path):
    run(tmp_path, "a", "scratch-linear", 0.01, 0, float("nan"))
    run(tmp_path, "b", "simclr-linear", 0.01, 0, 0.8)
    report(tmp_path, tmp_path / "out", wandb=False)

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} in JSON")

    for name in ("summary.json", "results.json"):
        data = json.loads((tmp_path / "out" / name).read_text(), parse_constant=strict)
        assert data
    runs = json.loads((tmp_path / "out/results.json").read_text())
    assert {r["method"]: r["test_acc"] for r in runs} == {
        "scratch-linear": None,
        "simclr-linear": 0.8,
    }


def test_names_stay_distinct_when_one_path_is_the_tail_of_another():
    from pretrainkit.report.identity import names

    rows = [
        {"task": "simclr"},  # neither weights nor pretrained: the task string itself
        {"task": "simclr", "pretrained": "/p/simclr"},
        {"task": "simclr", "weights": "/q/simclr-s1.2/backbone.safetensors"},
        {"task": "simclr", "pretrained": "/q/simclr-s1.2"},  # the same run, before `weights`
    ]
    shown = names(rows)
    assert len(set(shown.values())) == 4 and shown["/p/simclr"] == "simclr[p/simclr]"
    assert shown["/q/simclr-s1.2"] == "simclr[s1.2]"  # a dot in a directory is not a suffix


def test_a_chosen_lr_at_the_edge_of_its_grid_is_named(tmp_path: Path):
    for lr, val in ((0.001, 0.7), (0.003, 0.8), (0.01, 0.9)):  # the best is the largest
        run(tmp_path, f"s{lr}", "simclr-linear", 0.01, 0, 0.8, lr=lr, **{"val/acc_best": val})
        run(tmp_path, f"f{lr}", "scratch-finetune", 0.01, 0, 0.8, lr=lr, **{"val/acc_best": 0.8 if lr == 0.003 else 0.5})  # fmt: skip
    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text()
    assert "At the edge of the grid: simclr-linear at 1% (10 labeled) (0.01)." in text
    assert "scratch-finetune at" not in text.split("At the edge of the grid")[1]


def test_equal_val_accuracy_goes_to_the_lower_val_loss(tmp_path: Path):
    # both lrs reach 100% validation accuracy; lr 0.01 gets there with the lower val/loss
    for lr, loss in ((0.001, 0.3), (0.01, 0.1)):
        curve = {"epoch": [1, 2], "val/acc": [0.9, 1.0], "val/loss": [loss + 0.2, loss]}
        run(tmp_path, f"r{lr}", "scratch-finetune", 1.0, 0, 0.9, lr=lr, history=curve, **{"val/acc_best": 1.0})  # fmt: skip
    (choice,) = lr_choice(collect(tmp_path))
    assert choice["lr"] == 0.01
    assert [t["val_loss"] for t in choice["tried"]] == [pytest.approx(0.3), pytest.approx(0.1)]


# --- classical baselines --------------------------------------------------------------------


def classical(root: Path, name: str, fraction: float, seed: int, acc: float) -> None:
    """A bow-logreg run as `pk-finetune baseline=bow_logreg` writes it: no lr, no history."""
    choice = {"chosen": {"ngrams": 1, "C": 10.0}, "tried": [{"setting": {}, "val/acc": 0.4}]}
    run(root, name, "bow-logreg", fraction, seed, acc, finetune_mode="logreg", lr=None,
        history=None, classical=choice, **{"val/acc_best": 0.4})  # fmt: skip


def test_a_classical_baseline_is_a_row_and_a_floor_neither_pretrained_nor_scratch(tmp_path: Path):
    for seed in (0, 1):
        for method, acc in [("mlm-linear", 0.30), ("mlm-finetune", 0.45), ("scratch-linear", 0.25),
                            ("scratch-finetune", 0.40)]:  # fmt: skip
            for fraction in (0.05, 0.5):
                run(tmp_path, f"{method}-{fraction}-{seed}", method, fraction, seed,
                    acc + fraction / 5, lr=1e-3, history=history([0.2, acc, acc]))  # fmt: skip
        for fraction in (0.05, 0.5):
            classical(tmp_path, f"bow-{fraction}-{seed}", fraction, seed, 0.36 + 0.02 * seed)
    rows = collect(tmp_path)
    summary = {(s["method"], s["labels"]): s for s in summarize(rows)}
    bow = summary[("bow-logreg", "5%")]
    assert bow["acc"] == pytest.approx((37.0, math.sqrt(2)))
    assert bow["classical"] and bow["lr"] is None and bow["seeds"] == 2
    # pretraining's gains pair mlm with scratch only; nothing gains over, or as, the floor
    assert {(g["method"], g["baseline"]) for g in gains(rows)} == {
        ("mlm-linear", "scratch-linear"), ("mlm-finetune", "scratch-finetune")
    }  # fmt: skip
    saved = labels_saved(rows, summarize(rows))
    assert {e["method"] for e in saved} == {"mlm-linear", "mlm-finetune"}
    assert all(c["method"] != "bow-logreg" for c in lr_choice(rows))
    assert all(c["method"] != "bow-logreg" for c in convergence(rows))  # no curve to judge
    # the floor: every network row against it, paired by seed, at its own budget
    floor = {(g["method"], g["labels"]): g for g in floor_gains(rows)}
    assert len(floor) == 8 and {g["baseline"] for g in floor.values()} == {"bow-logreg"}
    assert floor[("scratch-linear", "5%")]["gain"] == pytest.approx((-11.0, math.sqrt(2)))
    assert floor[("mlm-finetune", "5%")]["gain"][0] == pytest.approx(9.0)

    report(tmp_path, tmp_path / "out", wandb=False)
    text = (tmp_path / "out/report.md").read_text()
    assert "| 5% (50 labeled) | bow-logreg | 37.0 ± 1.4 | 32.0 ± 1.4 | 2 | — |" in text
    floor_text = text.split("## Against the classical floor")[1].split("## Labels saved")[0]
    assert "| 5% (50 labeled) | scratch-linear | bow-logreg | -11.0 ± 1.4 | 2 |" in floor_text
    assert "Not above the floor: `mlm-linear` at 5% (50 labeled): -6.0 ± 1.4 vs `bow-logreg`; `scratch-linear` at 5% (50 labeled): -11.0 ± 1.4 vs `bow-logreg`; `scratch-linear` at 50% (500 labeled): -2.0 ± 1.4 vs `bow-logreg`." in floor_text  # fmt: skip
    assert "seed 0 ngrams=1 C=10 (val 40.0%); seed 1 ngrams=1 C=10 (val 40.0%)" in floor_text
    lr_section = text.split("## Learning rate per row")[1]
    assert "bow-logreg" not in lr_section and "## What pretraining bought" in text
