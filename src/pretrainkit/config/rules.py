"""The domain's rules: what the types cannot say. Task, backbone and dataset must be for the same
kind of data, and so must a classical baseline, which trains no network; MAE needs a ViT, a
language-model task a model type with its head; the run needs an epoch; `pretrained=` must name
an exported backbone; every file or folder named must exist and be readable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pretrainkit.config.checks import ConfigError, locate_target
from pretrainkit.run.export import locate
from pretrainkit.run.resume import check_resumable

# Suggestions in messages, by modality.
EXAMPLES = {
    "image": {"task": "simclr", "backbone": "small_cnn", "dataset": "digits"},
    "text": {"task": "mlm", "backbone": "bert_small", "dataset": "fortunes"},
    "tabular": {"task": "scarf", "backbone": "mlp", "dataset": "letter"},
    "audio": {"task": "simclr_audio", "backbone": "audio_cnn", "dataset": "asterisk"},
}


def check_epochs(trainer: DictConfig) -> None:
    """At least one epoch, unless `trainer.max_steps` bounds the run (Lightning's max_epochs=-1)."""
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    by_steps = epochs == -1 and isinstance(steps, int) and steps > 0
    if isinstance(epochs, int) and epochs < 1 and not by_steps:
        raise ConfigError(
            f"trainer.max_epochs={epochs} must be >= 1 (or -1 with "
            "trainer.max_steps=N); e.g. trainer.max_epochs=10"
        )


def check_pretrained(cfg: DictConfig) -> None:
    """`pretrained=` names an exported backbone: a pretrain run directory or its weights file
    (a study refuses any: it pretrains its own)."""
    if cfg.get("pretrained") is not None and cfg.study.task is None:
        try:
            locate(cfg.pretrained)
        except (OSError, ValueError) as err:
            raise ConfigError(str(err)) from None


# Lightning's own names for a checkpoint (trainer.fit(ckpt_path=...)), which are not files.
CKPT_NAMES = ("last", "best", "hpc", "registry")
# The settings that name a file or folder, besides the dataset's, and what to give instead.
PATH_FIXES = {
    "ckpt_path": "give a checkpoint file, e.g. <run dir>/checkpoints/last.ckpt",
    "data.tokenizer": "give a tokenizer directory or tokenizer.json, a pretrain run directory, "
    "or null to train one",
    "backbone.init_from": "give a save_pretrained directory (a text pretraining's <run dir>/hf), "
    "or null",
}


def check_paths(cfg: DictConfig) -> None:
    """Every file or folder the config names exists and can be read: the dataset's (unless it
    is to be downloaded), `resume`, `ckpt_path`, `data.tokenizer`, `backbone.init_from`
    (`pretrained`: `check_pretrained`)."""
    if cfg.get("resume"):
        check_resumable(Path(cfg.resume))
    source = cfg.dataset.get("source")
    if isinstance(source, DictConfig) and not source.get("download"):
        found = locate_target("dataset.source", source._target_) if "_target_" in source else None
        fix = getattr(found, "missing_hint", None) or "set {key}=<an existing path>"
        for key in ("root", "test_root", "path", "test_path", "unlabeled_path"):
            if key in source:
                check_path(source, key, f"dataset.source.{key}", fix)
    ckpt = str(cfg.get("ckpt_path"))
    for name, fix in PATH_FIXES.items():
        if name == "ckpt_path" and (ckpt in CKPT_NAMES or "://" in ckpt):
            continue  # Lightning's name for a checkpoint, or a remote one
        parent, _, key = name.rpartition(".")
        node = cfg.get(parent) if parent else cfg
        if isinstance(node, DictConfig) and key in node:
            check_path(node, key, name, fix)


def check_path(node: DictConfig, key: str, name: str, fix: str) -> None:
    """`node[key]`, a setting shown as `name`, names a readable file or folder (or is null, or a
    glob, or another key's value, which is checked under that key)."""
    value = node.get(key)
    if (
        value is None
        or OmegaConf.is_interpolation(node, key)
        or any(c in str(value) for c in "*?[")
    ):
        return
    path, fix = Path(str(value)).expanduser(), fix.format(key=name)
    if not path.exists():
        raise ConfigError(f"{name}={value}: no such file or directory; {fix}")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise ConfigError(
            f"{name}={value}: not readable by this user; fix its permissions or {fix}"
        )


def check_modalities(cfg: DictConfig) -> None:
    """Task, backbone and dataset must be for the same kind of data. A fine-tune of a pretrained
    run is left to its loading: the run brings its own backbone."""
    data, dataset = cfg.modality, f"dataset={cfg.dataset.name}"
    task = locate_target("task", cfg.task._target_) if "task" in cfg else None
    if task is not None and task.modality != data:
        raise ConfigError(
            f"task={task.name} trains on {task.modality} but {dataset} holds {data}; pick "
            f"{_a(data)} task (e.g. task={EXAMPLES[data]['task']}) or {_a(task.modality)} "
            f"dataset (e.g. dataset={EXAMPLES[task.modality]['dataset']})"
        )
    if cfg.get("pretrained") is not None:
        return
    backbone = _option("backbone", cfg.backbone)
    kind = getattr(locate_target("backbone", cfg.backbone._target_), "modality", data)
    if kind != data:
        user = f"task={task.name} trains on" if task is not None else f"{dataset} holds"
        raise ConfigError(
            f"{backbone} is {_a(kind)} backbone but {user} {data}; pick {_a(data)} "
            f"backbone (e.g. backbone={EXAMPLES[data]['backbone']})"
        )
    if task is not None:
        check_architecture(task, cfg.backbone, backbone)


def check_baseline(cfg: DictConfig) -> None:
    """A classical baseline (`baseline=`) reads the dataset's kind of data and trains no
    network: a pretrained backbone, a fine-tune mode or a study task would be ignored, so they
    are refused."""
    node = cfg.get("baseline")
    if node is None:
        return
    kind = locate_target("baseline", node._target_).modality
    name = _option("baseline", node)
    if kind != cfg.modality:
        raise ConfigError(
            f"{name} reads {kind} but dataset={cfg.dataset.name} holds {cfg.modality}; pick "
            f"{_a(kind)} dataset (e.g. dataset={EXAMPLES[kind]['dataset']})"
        )
    given = {"pretrained": cfg.pretrained, "finetune_mode": cfg.finetune_mode}
    given["study.task"] = cfg.study.task
    for key, value in given.items():
        if value is not None:
            raise ConfigError(
                f"{name} fits its own classifier and trains no network; drop {key}={value}"
            )


def check_architecture(task: Any, backbone: DictConfig, name: str) -> None:
    """MAE masks a ViT's patches (Audio-MAE a spectrogram ViT's); a language-model task needs a
    model type its head exists for (GPT-2 has no masked-LM head), and next-token prediction a causal one (BERT would see the
    token it predicts)."""
    if task.name in ("mae", "ijepa") and not _is_vit(backbone):
        raise ConfigError(
            f"task={task.name} masks the patches of a ViT, but {name} is not one; use "
            "backbone=vit_tiny"
        )
    if task.name == "audio_mae" and not backbone._target_.endswith(".AudioViT"):
        raise ConfigError(
            f"task=audio_mae masks spectrogram patches of a ViT, but {name} is not one; use "
            "backbone=audio_vit"
        )
    model_type = (backbone.get("config") or {}).get("model_type")
    if getattr(task, "auto_class", None) is None or model_type is None or backbone.get("init_from"):
        return
    from transformers import CONFIG_MAPPING, AutoModelForCausalLM  # a text backbone loaded it

    from pretrainkit.backbones.text import CAUSAL_TYPES

    if model_type not in CONFIG_MAPPING:
        raise ConfigError(
            f"backbone.config.model_type={model_type} is not a transformers model type; "
            "e.g. bert or gpt2"
        )
    next_token = task.auto_class is AutoModelForCausalLM
    causal = model_type in CAUSAL_TYPES or bool(backbone.config.get("is_decoder"))
    heads = task.auto_class._model_mapping  # the config classes it has a head for
    if CONFIG_MAPPING[model_type] not in heads or (next_token and not causal):
        needs = (
            "a decoder, which sees only earlier tokens (e.g. backbone=gpt_small)"
            if next_token
            else "an encoder with a masked-LM head (e.g. backbone=bert_small)"
        )
        raise ConfigError(f"task={task.name} cannot train {name} ({model_type}): it needs {needs}")


def _is_vit(backbone: DictConfig) -> bool:
    """As TimmBackbone tells a ViT (backbones/timm.py)."""
    name = str(backbone.get("name", ""))
    return backbone._target_.endswith(".TimmBackbone") and name.startswith(("vit", "deit"))


def _option(group: str, node: DictConfig) -> str:
    """`backbone=bert_small` as the user chose it (in a Hydra run), else what the node says."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return f"{group}={choice}"
    return f"{group} {node.get('name') or node._target_.rsplit('.', 1)[-1]}"


def _a(modality: str) -> str:
    return f"an {modality}" if modality in ("image", "audio") else f"a {modality}"
