"""DINO: the teacher's temperature, EMA and missing gradient, the last layer frozen in epoch 0
only, per-parameter clipping, a falling loss on digits, a ViT on multi-crop, and pretrain ->
fine-tune through the console scripts. The loss itself: tests/losses/test_dino.py."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from helpers import logged, make_cfg, run_cli
from hydra.utils import instantiate
from torch import nn

from pretrainkit.pretrain import pretrain
from pretrainkit.run.export import load_backbone
from pretrainkit.tasks.byol import cosine_momentum
from pretrainkit.tasks.dino import DINO, clip_per_parameter_, teacher_temperature

SMALL = ["task=dino", "task.hidden_dim=64", "task.bottleneck_dim=16", "task.out_dim=32"]
SMALL += ["augment.n_local=2", "data.batch_size=32", "monitor=none"]


def test_teacher_temperature_warms_up_linearly():
    temps = [teacher_temperature(e, 30, 0.04, 0.07) for e in (0, 15, 30, 100)]
    assert temps == pytest.approx([0.04, 0.055, 0.07, 0.07])
    assert teacher_temperature(0, 0, 0.04, 0.07) == 0.07  # no warm-up


def test_per_parameter_clipping():
    big, small = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    big.grad, small.grad = torch.tensor([3.6, 4.8]), torch.tensor([1.0, 0.0, 0.0])  # norms 6, 1
    clip_per_parameter_([big, small], max_norm=3.0)
    torch.testing.assert_close(big.grad, torch.tensor([1.8, 2.4]), atol=1e-5, rtol=0)  # norm 3
    assert small.grad.tolist() == [1.0, 0.0, 0.0]  # under the bound: untouched


class Recorder(L.Callback):
    """After every training step: the epoch, both networks' weights, the gradients."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def on_train_start(self, trainer: L.Trainer, task: DINO) -> None:
        self.steps.append(self.snapshot(task))

    def on_train_batch_end(self, trainer: L.Trainer, task: DINO, *args: object) -> None:
        self.steps.append(self.snapshot(task))

    def on_validation_start(self, trainer: L.Trainer, task: DINO) -> None:
        self.center = task.loss_fn.center.clone()

    def on_validation_end(self, trainer: L.Trainer, task: DINO) -> None:
        assert torch.equal(task.loss_fn.center, self.center)  # validation leaves it alone

    @staticmethod
    def snapshot(task: DINO) -> dict:
        student = [*task.backbone.parameters(), *task.head.parameters()]
        teacher = [*task.teacher_backbone.parameters(), *task.teacher_head.parameters()]
        return {
            "epoch": task.current_epoch,
            "student": torch.cat([p.detach().flatten() for p in student]),
            "teacher": torch.cat([p.detach().flatten() for p in teacher]),
            "last": task.head.last_layer.weight.detach().clone(),
            "last_grad": task.head.last_layer.weight.grad,
            "grad_norms": [p.grad.norm().item() for p in student if p.grad is not None],
            "teacher_grads": [p.grad for p in teacher if p.grad is not None or p.requires_grad],
        }


def test_teacher_ema_frozen_last_layer_and_clipping_in_training(tmp_path: Path):
    """2 epochs x 2 steps on real digits (Lightning's own loop): the teacher takes no gradient
    and is τ_k·teacher + (1 - τ_k)·student after step k; the last layer moves from epoch 1 on;
    every student gradient is clipped to task.clip_grad."""
    overrides = [*SMALL, "task.base_momentum=0.9", "task.clip_grad=0.01"]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    recorder = Recorder()
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, limit_train_batches=2, limit_val_batches=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[recorder],
    )  # fmt: skip
    trainer.fit(task, datamodule=instantiate(cfg.data))
    start, *steps = recorder.steps
    assert torch.equal(start["teacher"], start["student"])  # the teacher starts as a copy
    previous = start["teacher"]
    for k, step in enumerate(steps, start=1):
        tau = cosine_momentum(k - 1, 4, 0.9)  # global_step is k - 1 during step k
        torch.testing.assert_close(step["teacher"], tau * previous + (1 - tau) * step["student"])
        previous = step["teacher"]
        assert not step["teacher_grads"]  # no gradient, no requires_grad
        assert step["grad_norms"] and max(step["grad_norms"]) <= 0.01 * (1 + 1e-4)
    epoch0, epoch1 = steps[:2], steps[2:]
    assert [s["epoch"] for s in steps] == [0, 0, 1, 1]
    assert all(s["last_grad"] is None and torch.equal(s["last"], start["last"]) for s in epoch0)
    assert all(s["last_grad"] is not None for s in epoch1)
    assert not torch.equal(epoch1[-1]["last"], start["last"])
    assert not torch.equal(epoch0[0]["student"], start["student"])  # the rest trains from step 1
    assert task.loss_fn.center.abs().sum() > 0


def test_loss_falls_on_digits_and_the_checkpoint_holds_teacher_and_centre(tmp_path: Path):
    """Through pretrain() on real digits, with small heads (32 outputs): with the default
    4096 the loss of a few dozen steps stays near log(4096) (reported, not tested here)."""
    overrides = [*SMALL, "logger=csv", "trainer.max_epochs=3", "trainer.limit_train_batches=2"]
    cfg = make_cfg("pretrain", [*overrides, "task.warmup_teacher_temp_epochs=2"], tmp_path)
    pretrain(cfg)
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 3 and epochs[-1] < 0.95 * epochs[0], epochs  # measured: 5.30 -> 4.76
    assert logged(tmp_path, "train/teacher_temp") == pytest.approx([0.04, 0.055, 0.07])
    state = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    assert {"loss_fn.center", "teacher_head.last_layer.weight"} <= state.keys()
    assert any(k.startswith("teacher_backbone.") for k in state)
    assert state["loss_fn.center"].abs().sum() > 0


def test_vit_takes_local_crops_and_keeps_its_features_at_the_global_size(tmp_path: Path):
    cfg = make_cfg("pretrain", [*SMALL, "backbone=vit_tiny", "dataset=fashion_mnist"], tmp_path)
    built = instantiate(cfg.backbone)  # a fixed-size ViT, as every other task trains it
    task = instantiate(cfg.task, backbone=built)
    task.log = lambda *args, **kwargs: None  # no trainer to log to
    views = [torch.randn(2, 1, 28, 28)] * 2 + [torch.randn(2, 1, 12, 12)] * 2
    task.step(views, "train").backward()
    assert task.backbone.spec["model_kwargs"]["dynamic_img_size"] is True  # what is exported
    built.load_state_dict(task.backbone.state_dict())  # the same weights fit the fixed-size ViT
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():  # and give the same features at the size it was built for
        torch.testing.assert_close(task.backbone.eval()(x), built.eval()(x))


@pytest.mark.slow  # two cold starts; test_entrypoints runs dino pretrain -> fine-tune in-process
def test_pretrain_then_finetune_through_the_console_scripts(tmp_path: Path):
    """A ViT on multi-crop views made on the device (here the CPU), exported and fine-tuned
    at the global size by pk-finetune."""
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    run_cli(
        "pk-pretrain", "task=dino", "backbone=vit_tiny", "+backbone.model_kwargs.depth=2",
        "task.hidden_dim=64", "task.bottleneck_dim=16", "task.out_dim=32", "augment.n_local=2",
        "data.augment_on=gpu", "data.batch_size=32", "trainer.accelerator=cpu", "debug=fast",
        "monitor=none", "logger=csv", f"hydra.run.dir={pre}", cwd=tmp_path,
    )  # fmt: skip
    spec = yaml.safe_load((pre / "backbone.yaml").read_text())
    assert spec["backbone"]["model_kwargs"] == {
        "patch_size": 2,
        "depth": 2,
        "dynamic_img_size": True,
    }
    backbone, _ = load_backbone(pre, None)
    with torch.no_grad():
        assert backbone.eval()(torch.zeros(2, 1, 8, 8)).shape == (2, 192)
    run_cli(
        "pk-finetune", f"pretrained={pre}", "label_fraction=0.1", "trainer.accelerator=cpu",
        "debug=fast", "logger=csv", f"hydra.run.dir={ft}", cwd=tmp_path,
    )  # fmt: skip
    metrics = json.loads((ft / "metrics.json").read_text())
    assert metrics["task"] == "dino" and 0 <= metrics["test/acc"] <= 1
