"""BYOL: the EMA arithmetic and its schedule, a target outside the optimizer, a falling loss."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import logged, make_cfg
from hydra.utils import instantiate
from safetensors.torch import load_file
from torch import nn

from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.byol import BYOL, cosine_momentum, ema_update_

SMALL_HEADS = ["task.proj_hidden_dim=64", "task.proj_output_dim=32", "task.pred_hidden_dim=64"]


def small_byol(tmp_path: Path) -> BYOL:
    cfg = make_cfg("pretrain", ["task=byol", *SMALL_HEADS], tmp_path)
    return instantiate(cfg.task, backbone=instantiate(cfg.backbone))


def test_ema_update_arithmetic():
    online, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[4.0, -8.0]]))
        online.bias.fill_(2.0)
        target.weight.copy_(torch.tensor([[0.0, 8.0]]))
        target.bias.fill_(6.0)
    ema_update_(target, online, momentum=0.75)  # ξ <- 0.75·ξ + 0.25·θ
    assert target.weight.tolist() == [[1.0, 4.0]] and target.bias.tolist() == [5.0]
    assert online.weight.tolist() == [[4.0, -8.0]]  # the online network is only read
    ema_update_(target, online, momentum=1.0)
    assert target.weight.tolist() == [[1.0, 4.0]]  # τ = 1 freezes the target
    ema_update_(target, online, momentum=0.0)
    assert target.weight.tolist() == [[4.0, -8.0]]  # τ = 0 copies the online network


def test_cosine_momentum_schedule():
    assert cosine_momentum(0, 1000, 0.99) == 0.99  # τ_base at the first step
    assert cosine_momentum(1000, 1000, 0.99) == 1.0  # 1 at the last
    assert math.isclose(cosine_momentum(500, 1000, 0.99), 0.995)  # halfway: cos = 0
    assert math.isclose(cosine_momentum(250, 1000, 0.9), 1 - 0.1 * (math.sqrt(0.5) + 1) / 2)
    assert cosine_momentum(2000, 1000, 0.99) == 1.0  # stays at 1 past the budget
    assert cosine_momentum(10, math.inf, 0.99) == 0.99  # no budget: constant τ_base


def test_target_gets_no_gradient_and_is_not_optimized(tmp_path: Path):
    task = small_byol(tmp_path)
    task.log = lambda *args, **kwargs: None  # no trainer to log to
    views = [torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)]
    task.step(views, "train").backward()
    targets = [*task.target_backbone.parameters(), *task.target_projector.parameters()]
    assert targets and all(p.grad is None and not p.requires_grad for p in targets)
    assert all(p.grad is not None for p in task.backbone.parameters())
    optimizer = task.optimizer_factory(task.param_groups())
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized and not optimized & {id(p) for p in targets}
    assert len(optimized) == sum(1 for p in task.parameters() if p.requires_grad)
    keys = task.state_dict().keys()  # a checkpoint carries the target
    assert any(k.startswith("target_backbone.") for k in keys)
    assert any(k.startswith("target_projector.") for k in keys)


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_momentum_outside_0_1_is_refused_by_the_config_check(momentum: float, tmp_path: Path):
    """BYOL's signature holds the range ([0, 1]); the config check reads it before any work."""
    cfg = make_cfg("pretrain", ["task=byol", f"task.base_momentum={momentum}"], tmp_path)
    with pytest.raises(ConfigError, match=rf"task.base_momentum={momentum} is outside \[0, 1\]"):
        validate(cfg, PretrainConfig)


@pytest.mark.slow
def test_loss_falls_on_digits_and_the_checkpoint_resumes_with_its_target(tmp_path: Path):
    # Smaller heads and batches than the defaults keep this a CPU test of a few seconds.
    overrides = [
        "task=byol",
        "task.proj_hidden_dim=1024",
        "task.pred_hidden_dim=1024",
        "data.batch_size=64",
        "monitor=none",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=10",
    ]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    pretrain(cfg)
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 4 and epochs[-1] < 0.85 * epochs[0]  # measured: 2.46 -> 1.76
    taus = logged(tmp_path, "train/momentum")
    assert taus[0] == pytest.approx(0.99) and taus == sorted(taus) and taus[-1] > 0.9999

    state = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    fresh = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    fresh.load_state_dict(state)  # strict: the target is in the checkpoint
    exported = load_file(str(tmp_path / "backbone.safetensors"))
    online = fresh.backbone.state_dict()
    assert all(torch.equal(exported[k], online[k]) for k in online)  # the online backbone
    target = fresh.target_backbone.state_dict()
    assert not all(torch.equal(target[k], online[k]) for k in online)  # an average, not a copy
