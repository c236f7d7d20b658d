"""MoCo v3: the official heads, a momentum encoder outside the optimizer that follows the EMA, a
ViT's frozen patch projection, a falling loss on digits (CNN and ViT), the console scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch
from helpers import logged, make_cfg, run_cli
from hydra.utils import instantiate
from safetensors.torch import load_file
from torch import nn

from pretrainkit.errors import BadValueError
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.mocov3 import MoCoV3, patch_projection

SMALL_HEADS = ["task.proj_hidden_dim=64", "task.proj_output_dim=32", "task.pred_hidden_dim=64"]


def small_mocov3(tmp_path: Path, *overrides: str) -> MoCoV3:
    cfg = make_cfg("pretrain", ["task=mocov3", *SMALL_HEADS, *overrides], tmp_path)
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    task.log = lambda *args, **kwargs: None  # no trainer to log to
    return task


def equal(params: Iterable[torch.Tensor], others: Iterable[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(params, others, strict=True))


def optimized(task: MoCoV3) -> set[int]:
    optimizer = task.optimizer_factory(task.param_groups())
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def test_heads_are_the_official_codes(tmp_path: Path):
    """Bias-free Linear-BN-ReLU hidden layers; the outputs end in a BatchNorm without affine
    parameters (the predictor's only with pred_last_bn, as the official ViT vs ResNet-50)."""
    task = small_mocov3(tmp_path)
    proj = [m for m in task.projector if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in proj] == [(128, 64), (64, 64), (64, 32)]
    assert all(m.bias is None for m in proj)
    for head in (task.projector, task.predictor):
        assert isinstance(head[-1], nn.BatchNorm1d) and not head[-1].affine
    resnet_style = small_mocov3(tmp_path, "task.proj_layers=2", "task.pred_last_bn=false")
    assert sum(isinstance(m, nn.Linear) for m in resnet_style.projector) == 2
    assert isinstance(resnet_style.predictor[-1], nn.Linear)


def test_momentum_encoder_gets_no_gradient_and_follows_the_ema(tmp_path: Path):
    task = small_mocov3(tmp_path)
    torch.manual_seed(0)
    task.step([torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)], "train").backward()
    targets = [*task.target_backbone.parameters(), *task.target_projector.parameters()]
    assert targets and all(p.grad is None and not p.requires_grad for p in targets)
    online = [*task.backbone.parameters(), *task.projector.parameters()]
    assert all(p.grad is not None for p in [*online, *task.predictor.parameters()])
    assert optimized(task).isdisjoint(id(p) for p in targets)
    keys = task.state_dict().keys()  # a checkpoint carries the momentum encoder, no predictor copy
    assert any(k.startswith("target_backbone.") for k in keys)
    assert not any(k.startswith("target_predictor") for k in keys)

    with torch.no_grad():  # make online and momentum weights differ
        for p in online:
            p.add_(torch.randn_like(p))
    xi0, theta0 = [p.clone() for p in targets], [p.clone() for p in online]
    task.momentum_update(0.75)  # ξ <- 0.75·ξ + 0.25·θ
    for xi, old_xi, old_theta in zip(targets, xi0, theta0, strict=True):
        torch.testing.assert_close(xi, 0.75 * old_xi + 0.25 * old_theta)
    assert equal(online, theta0)  # the query encoder is only read


def test_vit_patch_projection_stays_frozen_through_training(tmp_path: Path):
    task = small_mocov3(tmp_path, "backbone=vit_tiny")
    proj = patch_projection(task.backbone)
    frozen = list(proj.parameters())
    start = [p.clone() for p in frozen]
    blocks = [p.clone() for p in task.backbone.model.blocks.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert optimized(task).isdisjoint(id(p) for p in frozen)
    optimizer = task.optimizer_factory(task.param_groups())
    torch.manual_seed(0)
    for _ in range(3):  # optimizer steps with weight decay, and momentum updates
        optimizer.zero_grad()
        task.step([torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)], "train").backward()
        assert all(p.grad is None for p in frozen)
        optimizer.step()
        task.momentum_update(0.9)
    assert equal(frozen, start)
    assert equal(patch_projection(task.target_backbone).parameters(), start)
    assert not equal(task.backbone.model.blocks.parameters(), blocks)  # the rest trained

    trained = small_mocov3(tmp_path, "backbone=vit_tiny", "task.freeze_patch_embed=false")
    assert all(p.requires_grad for p in patch_projection(trained.backbone).parameters())
    assert patch_projection(small_mocov3(tmp_path).backbone) is None  # a CNN: nothing to freeze
    cnn = instantiate(make_cfg("pretrain", [], tmp_path).backbone)
    with pytest.raises(BadValueError, match="freeze_patch_embed=true .* SmallCNN has none"):
        MoCoV3(cnn, task.optimizer_factory, freeze_patch_embed=True)


# The defaults' loss starts at chance, 2 · 2τ · ln(64) = 3.33, and falls slowly in 40 steps: the
# momentum encoder, at τ 0.99 -> 1, moves only ~20% of the way to the query encoder in the whole
# run. Measured (epoch means): small CNN 3.34 -> 3.24, ViT-Tiny (2 blocks) 3.37 -> 3.31.
@pytest.mark.parametrize(
    ("backbone", "ratio"),
    [("small_cnn", 0.98), pytest.param("vit_tiny", 0.99, marks=pytest.mark.slow)],
)
@pytest.mark.slow
def test_loss_falls_on_digits_and_the_checkpoint_resumes_with_its_momentum_encoder(
    backbone: str, ratio: float, tmp_path: Path
):
    overrides = [
        "task=mocov3",
        f"backbone={backbone}",
        "data.batch_size=64",
        "monitor=none",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=10",
    ]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    pretrain(cfg)
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 4 and epochs == sorted(epochs, reverse=True), epochs  # every epoch
    assert epochs[-1] < ratio * epochs[0], epochs
    taus = logged(tmp_path, "train/momentum")
    assert taus[0] == pytest.approx(0.99) and taus == sorted(taus) and taus[-1] > 0.9999

    state = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    fresh = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    fresh.load_state_dict(state)  # strict: the momentum encoder is in the checkpoint
    exported = load_file(str(tmp_path / "backbone.safetensors"))
    online = fresh.backbone.state_dict()
    assert all(torch.equal(exported[k], online[k]) for k in online)  # the query backbone
    target = fresh.target_backbone.state_dict()
    assert not all(torch.equal(target[k], online[k]) for k in online)  # an average, not a copy


@pytest.mark.slow  # two cold starts; test_entrypoints runs mocov3 pretrain -> fine-tune in-process
def test_console_scripts_pretrain_then_finetune(tmp_path: Path):
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    common = ["debug=fast", "logger=none"]
    run_cli(
        "pk-pretrain", "task=mocov3", *common, "monitor=none", f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )  # fmt: skip
    assert (pre / "backbone.safetensors").is_file()
    run_cli(
        "pk-finetune", f"pretrained={pre}", "label_fraction=0.1", *common, f"hydra.run.dir={ft}",
        cwd=tmp_path,
    )  # fmt: skip
    metrics = json.loads((ft / "metrics.json").read_text())
    assert metrics["task"] == "mocov3" and 0 <= metrics["test/acc"] <= 1
