"""Entry point two: fine-tune a pretrained backbone (or train from scratch) on labeled images
or texts.

pk-finetune pretrained=outputs/pretrain/<run> freeze_backbone=true label_fraction=0.01
pk-finetune pretrained=null freeze_backbone=false label_fraction=0.01   # the baseline
"""

from __future__ import annotations

from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from pretrainkit.callbacks import MetricHistory
from pretrainkit.config import config_dir
from pretrainkit.export import load_backbone, locate
from pretrainkit.io import write_json
from pretrainkit.resume import resumed_config
from pretrainkit.runs import build_loggers, build_trainer, finish, scalar_metrics, start_run
from pretrainkit.schema import FinetuneConfig
from pretrainkit.study import study_pretrained
from pretrainkit.sweeps import keep_sweeping
from pretrainkit.tracking import tag_run, use_backbone
from pretrainkit.validate import exit_on_config_error, validate


def _backbone(cfg: DictConfig, datamodule: Any) -> tuple[Any, dict[str, Any]]:
    """The backbone to fine-tune and what is known of its pretraining (empty: from scratch)."""
    if cfg.pretrained is None:
        # text: the vocabulary size and special ids come from the data module's tokenizer
        return instantiate(cfg.backbone, **getattr(datamodule, "backbone_kwargs", {})), {}
    backbone, info = load_backbone(cfg.pretrained, cfg.backbone)
    modality = info.get("modality", "image")
    if modality != cfg.modality:
        raise ValueError(
            f"pretrained={cfg.pretrained} is a backbone for {modality} but dataset={cfg.dataset.name} "
            f"holds {cfg.modality}; fine-tune it on a {modality} dataset"
            + (" (e.g. dataset=fortunes)." if modality == "text" else " (e.g. dataset=digits).")
        )
    if "in_chans" in info and info["in_chans"] != cfg.dataset.in_chans:
        raise ValueError(
            f"pretrained={cfg.pretrained} was trained on {info['in_chans']}-channel images but "
            f"dataset={cfg.dataset.name} has {cfg.dataset.in_chans}; set dataset.in_chans={info['in_chans']} "
            "(image folders convert on load) or pick a backbone pretrained on matching images."
        )
    return backbone, info


def check_input_shape(backbone: Any, cfg: DictConfig, datamodule: Any) -> None:
    """One forward pass at the dataset's input shape, so a mismatch (a ViT built for another
    image size, other channels; a tokenizer larger than the embedding) fails now with a clear
    line, not deep inside training."""
    if cfg.modality == "text":
        tokens = len(datamodule.tokenizer)
        embedded = backbone.model.get_input_embeddings().num_embeddings
        if tokens > embedded:
            raise ValueError(
                f"data.tokenizer={cfg.data.tokenizer} has {tokens} tokens but the backbone embeds "
                f"{embedded}; fine-tune with the tokenizer it was pretrained with (the default)."
            )
        return
    shape = (2, cfg.dataset.in_chans, cfg.dataset.image_size, cfg.dataset.image_size)
    was_training = backbone.training
    try:
        with torch.no_grad():
            backbone.eval()(torch.zeros(shape))
    except Exception as err:  # timm and torch raise AssertionError, RuntimeError, ValueError
        raise ValueError(
            f"the backbone ({backbone.spec.get('name') or backbone.spec['_target_']}) cannot take "
            f"dataset={cfg.dataset.name}'s images of shape {tuple(shape[1:])}: {err}. Pretrain and "
            "fine-tune at the same dataset.image_size and dataset.in_chans, or pick another backbone."
        ) from err
    backbone.train(was_training)


def describe(
    cfg: DictConfig, info: dict[str, Any], backbone: Any, num_labeled: int
) -> dict[str, Any]:
    """What produced a fine-tune run's numbers: written beside them in metrics.json."""
    task = info.get("task", "unknown" if cfg.pretrained else "scratch")  # bare weights: unknown
    return {
        "method": f"{task}-{'linear' if cfg.freeze_backbone else 'finetune'}",
        "pretrained": str(locate(cfg.pretrained).parent.resolve()) if cfg.pretrained else None,
        "task": task,
        "backbone": backbone.spec.get("name")
        or backbone.spec.get("config", {}).get("model_type")
        or backbone.spec["_target_"].rsplit(".", 1)[-1],
        "dataset": cfg.dataset.name,
        "freeze_backbone": bool(cfg.freeze_backbone),
        "label_fraction": cfg.label_fraction if cfg.labels_per_class is None else None,
        "labels_per_class": cfg.labels_per_class,
        "num_labeled": num_labeled,
        "seed": cfg.seed,
    }


def tags(result: dict[str, Any]) -> list[str]:
    """W&B tags that name the run's place in a study: task, labels, freeze, seed."""
    labels = (
        f"labels_per_class:{result['labels_per_class']}"
        if result["labels_per_class"] is not None
        else f"fraction:{result['label_fraction']:g}"
    )
    mode = "frozen" if result["freeze_backbone"] else "finetuned"
    return [f"task:{result['task']}", labels, mode, f"seed:{result['seed']}"]


def history(trainer: Any) -> dict[str, list[float | None]] | None:
    for callback in trainer.callbacks:
        if isinstance(callback, MetricHistory):
            return {k: list(v) for k, v in callback.history.items()}
    return None


def finetune(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune as `cfg` says, test the best-validation checkpoint, write `metrics.json`."""
    validate(cfg, FinetuneConfig)  # a bad key or value fails here, before any work
    if cfg.study.task is not None:  # before seeding: the fine-tune's RNG must not depend on it
        cfg.pretrained = study_pretrained(cfg)
    run = start_run(cfg)
    datamodule = instantiate(cfg.data)
    backbone, info = _backbone(cfg, datamodule)
    check_input_shape(backbone, cfg, datamodule)
    model = instantiate(
        cfg.model,
        backbone=backbone,
        num_classes=datamodule.num_classes,
        pretrained=cfg.pretrained is not None,
    )
    loggers = build_loggers(cfg, resumed=run.resumed)
    trainer = build_trainer(cfg, loggers)
    if info.get("wandb"):
        weights = locate(cfg.pretrained)
        use_backbone(
            loggers, info["wandb"]["artifact"], [weights, weights.with_name("backbone.yaml")], info
        )
    trainer.fit(model, datamodule=datamodule, ckpt_path=run.ckpt_path)
    metrics = scalar_metrics(trainer)  # the last epoch's train/* and val/*
    # the callback that keeps best.ckpt (the others keep last.ckpt and step.ckpt)
    checkpoint = next((c for c in trainer.checkpoint_callbacks if c.monitor), None)
    best = None
    if checkpoint is not None and getattr(checkpoint, "best_model_path", ""):
        best = "best"
        metrics["val/acc_best"] = float(checkpoint.best_model_score)
    curves = history(trainer)  # now: testing from best.ckpt restores the callback's older state
    trainer.test(model, datamodule=datamodule, ckpt_path=best)
    metrics.update(scalar_metrics(trainer))
    about = describe(cfg, info, backbone, datamodule.num_labeled)
    # W&B: tags, and `about` in the config so the UI can group by method, task, labels
    where = tag_run(loggers, tags(about), {"run": about})
    result = {**about, **metrics, "history": curves, "wandb": where}
    if trainer.is_global_zero:
        write_json(run.dir / "metrics.json", result)
    finish(loggers)
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="finetune")
@exit_on_config_error
@keep_sweeping
def main(cfg: DictConfig) -> float | None:
    if cfg.get("resume"):  # the resumed run's own config, not this command line's
        cfg = resumed_config(cfg)
    result = finetune(cfg)
    return result.get(cfg.get("optimized_metric") or "")


if __name__ == "__main__":
    main()
