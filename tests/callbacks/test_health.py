"""Representation health: RankMe and feature spread on known matrices, and collapse warnings."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate

from pretrainkit.callbacks.health import HealthMonitor, feature_std, rankme
from pretrainkit.data.image.monitor import MonitorFeatures


def with_singular_values(sigma: list[float], n: int = 50, dim: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(n, dim, generator=g, dtype=torch.float64))  # (n, dim)
    v, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    s = torch.zeros(dim, dtype=torch.float64)
    s[: len(sigma)] = torch.tensor(sigma, dtype=torch.float64)
    return u @ torch.diag(s) @ v.T  # (n, dim)


def test_rankme_of_known_matrices():
    g = torch.Generator().manual_seed(0)
    rank_one = torch.randn(200, 1, generator=g) @ torch.randn(1, 32, generator=g)
    assert rankme(rank_one) == pytest.approx(1.0, abs=1e-3)
    isotropic = torch.randn(5000, 32, generator=g)
    assert 31 < rankme(isotropic) <= 32
    # sigma = (3, 1): p = (3/4, 1/4), exp(entropy) = 4 / 3^(3/4); RankMe's eps adds ~1e-5
    assert rankme(with_singular_values([3.0, 1.0])) == pytest.approx(4 / 3**0.75, abs=1e-4)
    assert rankme(with_singular_values([2.0, 2.0, 2.0])) == pytest.approx(3.0, abs=1e-4)


def test_feature_std_is_zero_for_one_point_and_one_over_sqrt_d_when_spread():
    g = torch.Generator().manual_seed(0)
    assert feature_std(torch.ones(100, 16)) == pytest.approx(0.0, abs=1e-12)
    spread = feature_std(torch.randn(20000, 64, generator=g))
    assert spread == pytest.approx(1 / math.sqrt(64), rel=0.02)


def collapsed(n: int = 300, dim: int = 64) -> MonitorFeatures:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, dim, generator=g) + 1e-4 * torch.randn(n, dim, generator=g)  # one point
    labels = torch.zeros(n, dtype=torch.long)
    return MonitorFeatures(x[:240], labels[:240], x[240:], labels[240:], ["a"])


def run_epochs(monitor: HealthMonitor, trainer, task, epochs: int) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(epochs):
            trainer.current_epoch = trainer.global_step = epoch
            monitor.on_train_epoch_end(trainer, task)
    return [str(w.message) for w in caught]


def test_collapse_warns_once_after_patience_and_says_what_to_try(fake_run):
    trainer, task = fake_run(collapsed(), labeled=False)  # health needs no labels
    monitor = HealthMonitor(patience=2)
    assert run_epochs(monitor, trainer, task, 1) == []  # one low reading may be a phase
    messages = run_epochs(monitor, trainer, task, 3)
    assert len(messages) == 1
    assert (
        "collapsed to nearly one point" in messages[0]
        and "Try a lower learning rate" in messages[0]
    )
    assert task.logged["val/rankme"] < 1.5 and task.logged["val/feature_std"] < 1e-3


def test_dimensional_collapse_warns(fake_run):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g) @ torch.randn(2, 128, generator=g)  # rank 2 of 128
    labels = torch.zeros(300, dtype=torch.long)
    features = MonitorFeatures(x[:240], labels[:240], x[240:], labels[240:], ["a"])
    monitor = HealthMonitor(min_rank_fraction=0.05, patience=1)
    messages = run_epochs(monitor, *fake_run(features), 1)
    assert len(messages) == 1 and "dimensional collapse" in messages[0]


def test_healthy_features_do_not_warn(fake_run, blobs):
    trainer, task = fake_run(blobs(500, 32, 10, spread=1.0))
    assert run_epochs(HealthMonitor(patience=1), trainer, task, 3) == []
    assert task.logged["val/rankme"] > 10


def test_without_a_monitor_set_it_warns_once_and_skips(fake_run):
    trainer, task = fake_run(None)
    messages = run_epochs(HealthMonitor(), trainer, task, 3)
    assert len(messages) == 1 and "no monitor set (data.monitor)" in messages[0]
    assert task.logged == {}


def test_health_runs_on_an_unlabeled_folder(fake_run, tmp_path: Path, digits_folder: Path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, png in enumerate(sorted(digits_folder.rglob("*.png"))[:200]):
        png.rename(flat / f"{i}.png")
    overrides = [
        "dataset=image_folder",
        f"dataset.source.root={flat}",
        "dataset.image_size=16",
        "data.batch_size=32",
        "monitor=[health]",
        "data.monitor.labeled=false",
    ]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    names, monitors = set(cfg.callbacks), {"knn", "probe", "health", "embedding"}
    assert names & monitors == {"health"} and {"checkpoint", "export"} <= names  # + common.yaml's
    datamodule = instantiate(cfg.data)
    datamodule.setup()  # no class folders, and no error: health needs no labels
    trainer, task = fake_run(datamodule.monitor)
    task.backbone = instantiate(cfg.backbone)
    assert run_epochs(HealthMonitor(), trainer, task, 1) == []
    assert 1 <= task.logged["val/rankme"] <= task.backbone.feature_dim
