"""The online linear probe: it learns, it leaves the backbone alone, and its state persists."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from helpers import make_cfg
from hydra.utils import instantiate

from pretrainkit.callbacks.probe import OnlineProbe


def run_epochs(probe: OnlineProbe, trainer, task, epochs: int) -> float:
    for _ in range(epochs):
        probe.on_train_epoch_end(trainer, task)
        trainer.current_epoch += 1
    return task.logged["val/probe_acc"]


def test_probe_learns_linearly_separable_features(fake_run, blobs):
    trainer, task = fake_run(blobs(1000, 32, 5, spread=0.5))
    probe = OnlineProbe(passes=2)
    first = run_epochs(probe, trainer, task, 1)
    assert run_epochs(probe, trainer, task, 3) >= max(first, 0.98)  # warm-started, improving


def test_probe_runs_every_n_epochs_and_skips_without_labels(fake_run, blobs):
    trainer, task = fake_run(blobs(200, 8, 2))
    probe = OnlineProbe(every_n_epochs=2)
    probe.on_train_epoch_end(trainer, task)  # epoch 1 of 2: not due
    assert probe.linear is None and task.logged == {}
    trainer, task = fake_run(blobs(200, 8, 2), labeled=False)
    probe.on_train_epoch_end(trainer, task)
    assert probe.linear is None and task.logged == {}


def test_probe_leaves_backbone_and_global_rng_unchanged(fake_run, tmp_path: Path):
    cfg = make_cfg("pretrain", ["data.monitor.max_images=200"], tmp_path)
    backbone, monitor = instantiate(cfg.backbone), instantiate(cfg.data.monitor)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}  # params and BN buffers
    trainer, task = fake_run(monitor)
    task.backbone = backbone.train()
    rng = torch.get_rng_state()
    run_epochs(OnlineProbe(passes=3), trainer, task, 2)
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert all(p.grad is None for p in backbone.parameters())
    assert backbone.training and 0 <= task.logged["val/probe_acc"] <= 1


def test_probe_state_round_trips_and_resumes_identically(fake_run, blobs):
    trainer, task = fake_run(blobs(300, 16, 3, spread=2.0))
    probe = OnlineProbe(passes=1)
    run_epochs(probe, trainer, task, 1)
    buffer = io.BytesIO()
    torch.save(probe.state_dict(), buffer)  # as a Lightning checkpoint holds it
    buffer.seek(0)
    resumed = OnlineProbe(passes=1)
    resumed.load_state_dict(torch.load(buffer))  # before the probe exists, as on resume
    assert resumed.state_dict().keys() == probe.state_dict().keys()
    run_epochs(probe, trainer, task, 1)
    run_epochs(resumed, trainer, task, 1)
    assert probe.linear is not None and resumed.linear is not None
    assert torch.equal(probe.linear.weight, resumed.linear.weight)
    assert probe.linear.weight.abs().sum() > 0
