"""FastPaths changes how a task runs, never what it saves; the optim configs build fused
optimizers; the `fast` switches are checked like any other key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from helpers import make_cfg
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from safetensors.torch import load_file
from torch import nn

from pretrainkit.callbacks import FastPaths
from pretrainkit.callbacks.fast import is_conv_backbone
from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import FinetuneConfig, PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.pretrain import pretrain

QUICK = ["logger=none", "monitor=none"]


def on(device: str) -> SimpleNamespace:
    """What FastPaths reads of a trainer: the device it trains on."""
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))


def task(tmp_path: Path, *overrides: str) -> nn.Module:
    cfg = make_cfg("pretrain", overrides, tmp_path)
    return instantiate(cfg.task, backbone=instantiate(cfg.backbone))


def conv_weights(module: nn.Module) -> list[torch.Tensor]:
    """4-D weights whose layout channels_last changes (one input channel: it does not)."""
    return [m.weight for m in module.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1]


@pytest.mark.parametrize(
    ("backbone", "conv"),
    [("small_cnn", True), ("resnet18", True), ("vit_tiny", False), ("bert_tiny", False)],
)
def test_tells_conv_backbones(backbone: str, conv: bool, tmp_path: Path):
    text = ["task=mlm", "dataset=fortunes"] if backbone.startswith("bert") else []
    cfg = make_cfg("pretrain", [*text, f"backbone={backbone}"], tmp_path)
    assert is_conv_backbone(instantiate(cfg.backbone)) is conv


@pytest.mark.parametrize(
    ("channels_last", "device", "applied"),
    [
        (True, "mps", True),
        (None, "cuda", True),
        (None, "cpu", True),
        (None, "mps", False),
        (False, "cuda", False),
        (False, "cpu", False),
    ],
)
def test_channels_last_when_asked_or_on_cuda_and_cpu(
    channels_last: bool | None, device: str, applied: bool, tmp_path: Path
):
    simclr = task(tmp_path)
    FastPaths(channels_last=channels_last).setup(on(device), simclr, "fit")  # type: ignore[arg-type]
    weights = conv_weights(simclr.backbone)
    assert weights
    for w in weights:
        assert w.is_contiguous(memory_format=torch.channels_last) is applied
        assert w.is_contiguous() is not applied


def test_channels_last_leaves_a_vit_alone(tmp_path: Path):
    mae = task(tmp_path, "task=mae", "backbone=vit_tiny", "dataset.in_chans=3")
    with pytest.warns(UserWarning, match="not a convolutional backbone"):
        FastPaths(channels_last=True).setup(on("cuda"), mae, "fit")  # type: ignore[arg-type]
    assert all(p.is_contiguous() for p in mae.parameters())
    assert conv_weights(mae.backbone)  # its patch embedding, whose layout would have changed


def test_compile_in_place_keeps_the_state_dict(tmp_path: Path):
    simclr = task(tmp_path)
    keys = list(simclr.state_dict())
    fast = FastPaths(compile=True)
    fast.setup(on("cpu"), simclr, "fit")  # type: ignore[arg-type]
    compiled = simclr.backbone._compiled_call_impl
    assert compiled is not None and simclr.projector._compiled_call_impl is not None
    assert simclr.loss_fn._compiled_call_impl is None  # no parameters: stays eager
    assert list(simclr.state_dict()) == keys  # no `_orig_mod.` as torch.compile(module) adds
    fast.setup(on("cpu"), simclr, "test")  # setup runs again for trainer.test: no recompile
    assert simclr.backbone._compiled_call_impl is compiled


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
@pytest.mark.parametrize(
    ("override", "fused"), [([], True), (["optim.optimizer.fused=false"], False)]
)
def test_optim_configs_build_fused_adamw(
    name: str, override: list[str], fused: bool, tmp_path: Path
):
    cfg = make_cfg(name, override, tmp_path)
    optimizer = instantiate(cfg.optim.optimizer)(nn.Linear(2, 2).parameters())
    assert optimizer.defaults["fused"] is fused


def test_a_cpu_run_trains_fused_in_fp32_and_channels_last(tmp_path: Path):
    pretrain(make_cfg("pretrain", QUICK, tmp_path))
    ckpt = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=False)
    assert all(g["fused"] for g in ckpt["optimizer_states"][0]["param_groups"])
    conv = ckpt["state_dict"]["backbone.features.1.0.weight"]  # (32, 32, 3, 3): saved as it ran
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    spec = yaml.safe_load((tmp_path / "backbone.yaml").read_text())
    assert spec["config"]["trainer"]["precision"] == "32-true"  # resolved, as it ran


@pytest.mark.slow  # compiling forward, backward and validation: 60 s here (25 s with a warm cache)
def test_compiled_run_saves_what_an_eager_run_saves_and_resumes_from_it(tmp_path: Path):
    eager, compiled, resumed = tmp_path / "eager", tmp_path / "compiled", tmp_path / "resumed"
    pretrain(make_cfg("pretrain", QUICK, eager))
    metrics = pretrain(make_cfg("pretrain", [*QUICK, "callbacks.fast.compile=true"], compiled))
    assert torch.isfinite(torch.tensor(metrics["train/loss_epoch"]))
    a, b = (torch.load(d / "checkpoints/last.ckpt", weights_only=False) for d in (eager, compiled))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert (
        load_file(eager / "backbone.safetensors").keys()
        == load_file(compiled / "backbone.safetensors").keys()
    )
    # an eager run's checkpoint loads into a compiled task and trains on
    last = eager / "checkpoints/last.ckpt"
    pretrain(
        make_cfg(
            "pretrain",
            [*QUICK, "callbacks.fast.compile=true", f"ckpt_path={last}", "trainer.max_epochs=2"],
            resumed,
        )
    )
    assert torch.load(resumed / "checkpoints/last.ckpt", weights_only=False)["global_step"] == 4


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
def test_validation_takes_the_switches(name: str, tmp_path: Path):
    schema = {"pretrain": PretrainConfig, "finetune": FinetuneConfig}[name]
    overrides = ["callbacks.fast.compile=true", "callbacks.fast.channels_last=false"]
    validate(make_cfg(name, overrides, tmp_path), schema)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+callbacks.fast.compiel=true", "callbacks.fast.compiel=true is not an argument of pretrainkit.callbacks.FastPaths; did you mean callbacks.fast.compile=true?"),
        ("callbacks.fast.compile=maybe", "callbacks.fast.compile=maybe is a string, but it must be a bool; e.g. callbacks.fast.compile=false"),
        ("callbacks.fast.channels_last=auto", "callbacks.fast.channels_last=auto is a string, but it must be a bool or null"),
        ("callbacks.fast.compile_mode=fastest", "callbacks.fast.compile_mode=fastest is not one of default, reduce-overhead"),
    ],
)  # fmt: skip
def test_validation_refuses_a_bad_switch_in_one_line(override: str, message: str, tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg("pretrain", [override], tmp_path), PretrainConfig)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_hydra_refuses_a_mistyped_switch(tmp_path: Path):
    with pytest.raises(
        ConfigCompositionException, match="Could not override 'callbacks.fast.compiel'"
    ):
        make_cfg("pretrain", ["callbacks.fast.compiel=true"], tmp_path)
