"""Every option of every config group composes, and what it configures instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    AUDIO_DATASETS,
    AUDIO_TASKS,
    CONF,
    FINETUNE_ONLY,
    TABULAR_DATASETS,
    TABULAR_TASKS,
    TEXT_DATASETS,
    TEXT_TASKS,
    make_cfg,
    options,
)
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf


def test_config_dir_is_the_checkout_conf():
    assert (CONF / "pretrain.yaml").is_file() and (CONF / "finetune.yaml").is_file()


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
def test_primary_configs_resolve(name: str, tmp_path: Path):
    cfg = make_cfg(name, out=tmp_path)
    OmegaConf.resolve(cfg)  # every interpolation has a target
    assert cfg.dataset.name == "digits"


@pytest.mark.parametrize("option", options("dataset"))
def test_dataset_options(option: str, tmp_path: Path):
    (tmp_path / "corpus.txt").write_text("A fortune a day keeps the doctor away.\n")
    extra = {
        "image_folder": [f"dataset.source.root={tmp_path}"],
        "text_files": [f"dataset.source.root={tmp_path}"],
        "hf_disk": [f"dataset.source.path={tmp_path}"],
        "table_files": [f"dataset.source.path={tmp_path}"],
        "audio_folder": [f"dataset.source.root={tmp_path}"],
    }.get(option, [])
    kinds = {**dict.fromkeys(TEXT_DATASETS, "text"), **dict.fromkeys(TABULAR_DATASETS, "tabular")}
    kinds |= dict.fromkeys(AUDIO_DATASETS, "audio")
    tasks = {"text": ["task=mlm"], "tabular": ["task=scarf"], "audio": ["task=simclr_audio"]}
    tasks["image"] = []
    for name in ("pretrain", "finetune"):
        kind = kinds.get(option, "image")
        task = tasks[kind] if name == "pretrain" else []
        cfg = make_cfg(name, [f"dataset={option}", *task, *extra], tmp_path)
        assert cfg.modality == kind
        source = instantiate(cfg.dataset.source)  # constructing reads nothing yet
        named = {"letter": "mlbench", "asterisk": "asteriskprompts"}.get(option, option)
        assert source.__class__.__name__.lower().startswith(named.replace("_", ""))
        dm = instantiate(cfg.data)
        assert dm.source.__class__ is source.__class__


@pytest.mark.parametrize("option", options("backbone"))
def test_backbone_options(option: str, tmp_path: Path):
    import torch

    if option.startswith(("bert", "gpt")):  # text: token ids in, a vocabulary from the data
        cfg = make_cfg("pretrain", [f"backbone={option}", "task=mlm"], tmp_path)
        backbone = instantiate(cfg.backbone, vocab_size=100, pad_token_id=0)
        inputs = {
            "input_ids": torch.arange(32).view(2, 16),
            "attention_mask": torch.ones(2, 16, dtype=torch.long),
        }
    elif option in ("audio_cnn", "audio_vit"):  # waveforms at the dataset's rate, 1 s clips
        overrides = [f"backbone={option}", "task=simclr_audio", "data.clip_seconds=1.0"]
        backbone = instantiate(make_cfg("pretrain", overrides, tmp_path).backbone)
        inputs = torch.zeros(2, 8000)
    elif option in ("mlp", "ft_transformer"):  # table rows: the column counts from the data
        cfg = make_cfg("pretrain", [f"backbone={option}", "task=scarf"], tmp_path)
        backbone = instantiate(cfg.backbone, num_numeric=3, cardinalities=[4])
        inputs = torch.tensor([[0.5, -1.0, 0.0, 2.0], [1.0, 0.0, 0.3, 0.0]])
    else:
        cfg = make_cfg("pretrain", [f"backbone={option}", "dataset=fashion_mnist"], tmp_path)
        backbone = instantiate(cfg.backbone)
        inputs = torch.zeros(2, 1, 28, 28)
    with torch.no_grad():
        features = backbone.eval()(inputs)
    assert features.shape == (2, backbone.feature_dim)


@pytest.mark.parametrize("option", options("task"))
def test_task_options(option: str, tmp_path: Path):
    cfg = make_cfg("pretrain", [f"task={option}"], tmp_path)
    if option in TABULAR_TASKS:  # table rows: the column counts from the data
        backbone = instantiate(cfg.backbone, num_numeric=3, cardinalities=[4])
        task = instantiate(cfg.task, backbone=backbone)
        assert cfg.modality == "tabular" and task.name == option
        assert instantiate(cfg.augment.views).rate > 0
        return
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    assert task.backbone.feature_dim > 0 and task.name == option
    if option in AUDIO_TASKS:  # recordings: crops in the loader, gain and mixing on the device
        views = 2 if option == "simclr_audio" else 1  # audio_mae: one crop, masked
        assert cfg.modality == "audio" and instantiate(cfg.augment.views).n_views == views
    if option in TEXT_TASKS:  # text tasks bring their corpus and tokenizer kind instead
        assert cfg.modality == "text" and cfg.data.tokenizer_kind in ("wordpiece", "bpe")
        return
    views = instantiate(cfg.augment.views)  # the task's augment recipe comes with it
    assert views is not None


@pytest.mark.parametrize("option", options("baseline"))
def test_baseline_options(option: str, tmp_path: Path):
    dataset = "fortunes" if option.startswith("bow") else "letter"
    cfg = make_cfg("finetune", [f"baseline={option}", f"dataset={dataset}"], tmp_path)
    baseline = instantiate(cfg.baseline)  # builds no estimator until it fits
    assert baseline.modality == cfg.modality and baseline.grid()


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(option: str, tmp_path: Path):
    overrides = [f"trainer={option}"]
    if option == "gpu":  # composes everywhere; builds only where a GPU exists
        import torch

        if not torch.cuda.is_available():
            cfg = make_cfg("pretrain", overrides, tmp_path, shrink=False)
            # no CUDA here: the precision resolver gives fp32 (bf16 only where native)
            assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "32-true"
            return
    if option == "ddp":  # two gloo processes on the CPU: also where only one GPU exists
        overrides.append("trainer.accelerator=cpu")
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
    "group",
    [
        "callbacks",
        "optim",
        "augment",
        "experiment",
        "debug",
        "monitor",
        "hparams_search",
        "launcher",
    ],
)
def test_other_groups(group: str, tmp_path: Path):
    for option in options(group):
        name = "finetune" if "finetune" in option or option in FINETUNE_ONLY else "pretrain"
        text = option in TEXT_TASKS or option.endswith("_text")  # needs text data
        extra = (["task=mlm"] if name == "pretrain" else ["dataset=fortunes"]) if text else []
        if option in TABULAR_TASKS or option.endswith("_tabular"):  # needs table rows
            extra = ["task=scarf"] if name == "pretrain" else ["dataset=letter"]
        if option in AUDIO_TASKS or option.endswith("_audio"):  # needs recordings
            extra = ["task=simclr_audio"] if name == "pretrain" else ["dataset=asterisk"]
        cfg = make_cfg(name, [f"{group}={option}", *extra], tmp_path)
        OmegaConf.resolve(cfg)
        for node in (cfg.get("callbacks") or {}).values():
            instantiate(node)


def test_mistyped_override_is_refused(tmp_path: Path):
    with pytest.raises(ConfigCompositionException, match="max_epoch"):
        make_cfg("pretrain", ["trainer.max_epoch=3"], tmp_path)


def test_unknown_group_option_is_refused(tmp_path: Path):
    with pytest.raises(ConfigCompositionException, match="resnet19"):
        make_cfg("pretrain", ["backbone=resnet19"], tmp_path)
