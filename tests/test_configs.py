"""Every option of every config group composes, and what it configures instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_cfg
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pretrainkit.config import config_dir

CONF = Path(config_dir())


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_config_dir_is_the_checkout_conf():
    assert (CONF / "pretrain.yaml").is_file() and (CONF / "finetune.yaml").is_file()


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
def test_primary_configs_resolve(name: str, tmp_path: Path):
    cfg = make_cfg(name, out=tmp_path)
    OmegaConf.resolve(cfg)  # every interpolation has a target
    assert cfg.dataset.name == "digits"


@pytest.mark.parametrize("option", options("dataset"))
def test_dataset_options(option: str, tmp_path: Path):
    extra = [f"dataset.source.root={tmp_path}"] if option == "image_folder" else []
    for name in ("pretrain", "finetune"):
        cfg = make_cfg(name, [f"dataset={option}", *extra], tmp_path)
        source = instantiate(cfg.dataset.source)  # constructing reads nothing yet
        assert source.__class__.__name__.lower().replace("_", "") == option.replace("_", "")
        dm = instantiate(cfg.data)
        assert dm.source.__class__ is source.__class__


@pytest.mark.parametrize("option", options("backbone"))
def test_backbone_options(option: str, tmp_path: Path):
    import torch

    cfg = make_cfg("pretrain", [f"backbone={option}", "dataset=fashion_mnist"], tmp_path)
    backbone = instantiate(cfg.backbone)
    with torch.no_grad():
        features = backbone.eval()(torch.zeros(2, 1, 28, 28))
    assert features.shape == (2, backbone.feature_dim)


@pytest.mark.parametrize("option", options("task"))
def test_task_options(option: str, tmp_path: Path):
    cfg = make_cfg("pretrain", [f"task={option}"], tmp_path)
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    assert task.backbone.feature_dim > 0
    views = instantiate(cfg.augment.views)  # the task's augment recipe comes with it
    assert views is not None


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(option: str, tmp_path: Path):
    overrides = [f"trainer={option}"]
    if option == "gpu":  # composes everywhere; builds only where a GPU exists
        import torch

        if not torch.cuda.is_available():
            cfg = make_cfg("pretrain", overrides, tmp_path)
            assert cfg.trainer.precision == "bf16-mixed"
            return
    cfg = make_cfg("pretrain", overrides, tmp_path, shrink=option != "ddp")
    trainer = instantiate(cfg.trainer, logger=False)
    if option == "ddp":
        assert trainer.num_devices == 2 and type(trainer.strategy).__name__ == "DDPStrategy"


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(option: str, tmp_path: Path):
    cfg = make_cfg("pretrain", [f"logger={option}"], tmp_path)
    loggers = [instantiate(c) for c in (cfg.logger or {}).values()]
    assert len(loggers) == (0 if option == "none" else 1)


@pytest.mark.parametrize(
    "group", ["callbacks", "optim", "augment", "experiment", "debug", "monitor"]
)
def test_other_groups(group: str, tmp_path: Path):
    for option in options(group):
        name = "finetune" if "finetune" in option else "pretrain"
        cfg = make_cfg(name, [f"{group}={option}"], tmp_path)
        OmegaConf.resolve(cfg)
        for node in (cfg.get("callbacks") or {}).values():
            instantiate(node)


def test_mistyped_override_is_refused(tmp_path: Path):
    with pytest.raises(ConfigCompositionException, match="max_epoch"):
        make_cfg("pretrain", ["trainer.max_epoch=3"], tmp_path)


def test_unknown_group_option_is_refused(tmp_path: Path):
    with pytest.raises(ConfigCompositionException, match="resnet19"):
        make_cfg("pretrain", ["backbone=resnet19"], tmp_path)
