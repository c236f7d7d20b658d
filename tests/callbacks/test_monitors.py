"""The monitor config group composes as documented, and a real pretrain run logs every monitor
to CSV and offline W&B."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from helpers import make_cfg, wandb_history
from hydra.errors import ConfigCompositionException, MissingConfigException

from pretrainkit.callbacks.probe import OnlineProbe

ALL = {"knn", "probe", "health", "embedding"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [([], ALL), (["monitor=[knn]"], {"knn"}), (["monitor=[knn,probe]"], {"knn", "probe"})],
)
def test_monitor_group_picks_callbacks_and_defines_the_set_once(overrides, expected, tmp_path):
    cfg = make_cfg("pretrain", overrides, tmp_path)
    assert set(cfg.callbacks) & ALL == expected
    assert cfg.data.monitor._target_.endswith("MonitorSet")


def test_monitor_none_turns_all_off_and_a_typo_is_an_error(tmp_path: Path):
    cfg = make_cfg("pretrain", ["monitor=none"], tmp_path)
    assert not set(cfg.callbacks) & ALL and cfg.data.monitor is None
    with pytest.raises((ConfigCompositionException, MissingConfigException), match="knnn"):
        make_cfg("pretrain", ["monitor=[knnn]"], tmp_path)


def test_short_pretrain_logs_every_monitor_to_csv_and_wandb(tmp_path: Path):
    from pretrainkit.pretrain import pretrain

    cfg = make_cfg("pretrain", ["logger=[wandb,csv]", "trainer.max_epochs=2"], tmp_path / "run")
    metrics = pretrain(cfg)
    keys = ["val/knn_acc", "val/probe_acc", "val/rankme", "val/feature_std"]
    assert all(k in metrics for k in keys), metrics
    assert 0 <= metrics["val/probe_acc"] <= 1 and 1 <= metrics["val/rankme"] <= 128
    rows = list(csv.DictReader((tmp_path / "run/csv/metrics.csv").open()))
    assert all(sum(bool(r.get(k)) for r in rows) == 2 for k in keys)  # once per epoch
    (wandb_run,) = (tmp_path / "run/wandb").glob("offline-run-*")
    logged: dict[str, object] = {}
    for row in wandb_history(wandb_run):
        logged |= row
    assert all(logged[k] == pytest.approx(metrics[k]) for k in keys)
    assert logged["val/embedding/_type"] == "images/separated"
    assert list((wandb_run / "files/media/images/val").glob("embedding_*.png"))
    assert (tmp_path / "run/embedding.png").stat().st_size > 10_000
    # the probe's state is in the checkpoint, so a resumed run continues it
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=False)
    (state,) = (v for k, v in ckpt["callbacks"].items() if k.startswith("OnlineProbe"))
    probe = OnlineProbe()
    probe.load_state_dict(state)
    probe._build(128, 10, torch.device("cpu"))
    assert probe.linear is not None and torch.equal(probe.linear.weight, state["linear"]["weight"])
