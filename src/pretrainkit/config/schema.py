"""The types of the config keys that no `_target_` signature owns (`pretrainkit.config.checks`
checks a composed config against them before any work). They hold no defaults: those live in
the YAML files and in the signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pretrainkit.config.values import Range


@dataclass
class Optimizer:
    """`optim.optimizer`: a partial `_target_` (torch.optim.AdamW); its signature checks the rest."""

    lr: Annotated[float, Range(gt=0, example="1e-3")]


@dataclass
class Optim:
    """conf/optim/*.yaml."""

    weight_decay: Annotated[float, Range(ge=0, example="1e-4")]
    optimizer: Optimizer
    scheduler: Any


@dataclass
class Data:
    """`data`, a `_target_` data module: its signature checks the other keys."""

    batch_size: Annotated[int, Range(ge=1, example="64")]  # per process: any number of ranks works


@dataclass
class Study:
    """`study` in finetune.yaml: the label-efficiency study's pretraining."""

    name: str
    task: str | None
    seed: int
    dir: str | None
    scratch_modes: list[Literal["linear", "finetune", "lp_ft"]] | None
    pretrain: dict[str, Any]
    eval: bool
    eval_settings: dict[str, Any]


@dataclass
class Probe:
    """`probe` in finetune.yaml: how linear probes get their features."""

    cached_features: bool
    cache_dir: str | None


@dataclass
class RunConfig:
    """The top-level keys both entry points share. `Any`: a config group, whose `_target_`
    nodes are checked against their signatures."""

    task_name: str
    seed: int
    verbose: bool
    ckpt_path: str | None
    resume: str | None
    auto_resume: bool
    optimized_metric: str | None
    modality: Literal["image", "text", "tabular", "audio"]
    backbone: Any
    dataset: Any
    data: Data
    augment: Any
    optim: Optim
    trainer: Any
    callbacks: Any
    logger: Any
    paths: Any


@dataclass
class PretrainConfig(RunConfig):
    """conf/pretrain.yaml."""

    task: Any


@dataclass
class FinetuneConfig(RunConfig):
    """conf/finetune.yaml."""

    pretrained: str | None
    finetune_mode: Literal["linear", "finetune", "lp_ft"] | None
    freeze_backbone: bool
    probe: Probe
    label_fraction: Annotated[float, Range(gt=0, le=1, example="0.1 (or labels_per_class=10)")]
    labels_per_class: Annotated[int, Range(ge=1, example="10")] | None
    study: Study
    model: Any
    baseline: Any  # a classical baseline's `_target_` node (absent: none)


@dataclass
class Eval:
    """`eval` in eval.yaml: the protocols (`_target_` nodes, or null to skip one) and shots."""

    knn: Any
    linear: Any
    shots: list[int]
    shot_seeds: list[int]
    cache_dir: str | None
    device: Literal["auto", "cpu", "cuda"]


@dataclass
class EvalConfig:
    """conf/eval.yaml: pk-eval's keys (no trainer or optimiser: the probes train on cached
    features)."""

    task_name: str
    seed: int
    verbose: bool
    optimized_metric: str | None
    modality: Literal["image", "text", "tabular", "audio"]
    pretrained: str
    backbone: Any
    dataset: Any
    data: Data
    augment: Any
    logger: Any
    paths: Any
    label_fraction: Annotated[float, Range(gt=0, le=1, example="0.1 (or labels_per_class=10)")]
    labels_per_class: Annotated[int, Range(ge=1, example="10")] | None
    eval: Eval
