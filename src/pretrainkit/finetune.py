"""Entry point two: fine-tune a pretrained backbone (or train from scratch) on labeled images
or texts: a linear probe, a full fine-tune, or LP-FT (the probe first, then everything); or
fit a classical baseline on the same labels (`baseline=`).

pk-finetune pretrained=outputs/pretrain/<run> finetune_mode=linear label_fraction=0.01
pk-finetune pretrained=null finetune_mode=finetune label_fraction=0.01   # the baseline
pk-finetune baseline=bow_logreg dataset=fortunes label_fraction=0.05     # a classical floor
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pretrainkit.callbacks import EarlyStopping, KeepBest, MetricHistory
from pretrainkit.config import config_dir
from pretrainkit.config.rules import EXAMPLES
from pretrainkit.config.schema import FinetuneConfig
from pretrainkit.config.validate import validate
from pretrainkit.data.features import FeatureDataModule
from pretrainkit.errors import BadValueError, exit_on_user_error
from pretrainkit.features import data_digest, probe_features
from pretrainkit.run import study_eval
from pretrainkit.run.console import backbone_name, duration, metrics_line, say
from pretrainkit.run.export import load_backbone, locate
from pretrainkit.run.files import FEATURES, LP_STAGE, METRICS, SPEC
from pretrainkit.run.io import write_json
from pretrainkit.run.record import describe, describe_classical, tags
from pretrainkit.run.resume import resumed_config
from pretrainkit.run.steps import build_loggers, build_trainer, finish, scalar_metrics, start_run
from pretrainkit.run.study import claim_scratch, study_pretrained
from pretrainkit.run.sweeps import in_multirun, keep_sweeping
from pretrainkit.run.tracking import tag_run, use_backbone
from pretrainkit.run.wandb_mode import private_wandb_service

log = logging.getLogger(__name__)


def finetune_mode(cfg: DictConfig) -> str:
    """`finetune_mode`, or the one `freeze_backbone` names (true: linear, false: finetune)."""
    return cfg.get("finetune_mode") or ("linear" if cfg.freeze_backbone else "finetune")


def _backbone(cfg: DictConfig, datamodule: Any) -> tuple[Any, dict[str, Any]]:
    """The backbone to fine-tune and what is known of its pretraining (empty: from scratch)."""
    if cfg.pretrained is None:
        # text: the vocabulary size and special ids come from the data module's tokenizer
        return instantiate(cfg.backbone, **getattr(datamodule, "backbone_kwargs", {})), {}
    backbone, info = load_backbone(cfg.pretrained, cfg.backbone)
    modality = info.get("modality", "image")
    if modality != cfg.modality:
        raise BadValueError(
            f"pretrained={cfg.pretrained} is a backbone for {modality} but dataset={cfg.dataset.name} "
            f"holds {cfg.modality}; fine-tune it on a {modality} dataset"
            + f" (e.g. dataset={EXAMPLES.get(modality, EXAMPLES['image'])['dataset']})."
        )
    if (pooling := cfg.backbone.get("pooling")) is not None:  # weightless: the fine-tune's choice
        backbone.use_pooling(pooling)
    if "in_chans" in info and info["in_chans"] != cfg.dataset.in_chans:
        raise BadValueError(
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
            raise BadValueError(
                f"data.tokenizer={cfg.data.tokenizer} has {tokens} tokens but the backbone embeds "
                f"{embedded}; fine-tune with the tokenizer it was pretrained with (the default)."
            )
        return
    if cfg.modality == "tabular":
        expected = datamodule.backbone_kwargs
        has = {k: backbone.spec.get(k) for k in expected}
        if has != expected:
            raise BadValueError(
                f"the backbone reads rows of {has['num_numeric']} numeric columns and categories "
                f"{has['cardinalities']} but dataset={cfg.dataset.name} has {expected['num_numeric']} "
                f"and {expected['cardinalities']}; fine-tune on the table it was pretrained on "
                "(the same columns, and categories from the same training rows)."
            )
        return
    if cfg.modality == "audio":
        rate = backbone.spec.get("sample_rate")
        if rate != cfg.dataset.rate:
            raise BadValueError(
                f"the backbone reads {rate} Hz audio but dataset={cfg.dataset.name} is read at "
                f"dataset.rate={cfg.dataset.rate}; set dataset.rate={rate} (files are resampled)."
            )
        seconds = backbone.spec.get("clip_seconds")  # a spectrogram ViT's positions are per clip
        if seconds is not None and seconds != cfg.data.clip_seconds:
            raise BadValueError(
                f"the backbone reads {seconds} s clips but data.clip_seconds="
                f"{cfg.data.clip_seconds}; set data.clip_seconds={seconds}."
            )
        return
    shape = (2, cfg.dataset.in_chans, cfg.dataset.image_size, cfg.dataset.image_size)
    was_training = backbone.training
    try:
        with torch.no_grad():
            backbone.eval()(torch.zeros(shape))
    except Exception as err:  # timm and torch raise AssertionError, RuntimeError, ValueError
        raise BadValueError(
            f"the backbone ({backbone.spec.get('name') or backbone.spec['_target_']}) cannot take "
            f"dataset={cfg.dataset.name}'s images of shape {tuple(shape[1:])}: {err}. Pretrain and "
            "fine-tune at the same dataset.image_size and dataset.in_chans, or pick another backbone."
        ) from err
    backbone.train(was_training)


def history(trainer: Any) -> dict[str, list[float | None]] | None:
    for callback in trainer.callbacks:
        if isinstance(callback, MetricHistory):
            return {k: list(v) for k, v in callback.history.items()}
    return None


def _features_cache(cfg: DictConfig) -> Path | None:
    if cfg.probe.cache_dir is not None:
        return Path(cfg.probe.cache_dir)
    return Path(HydraConfig.get().sweep.dir) / FEATURES if in_multirun() else None


def probe_data(cfg: DictConfig, backbone: Any, datamodule: Any) -> FeatureDataModule:
    """The frozen backbone's train/val/test features, as a data module for the linear head."""
    accelerated = torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    features = probe_features(
        backbone,
        datamodule,
        data_digest(
            OmegaConf.to_container(cfg.data, resolve=True),  # type: ignore[arg-type]
            OmegaConf.to_container(cfg.dataset, resolve=True),  # type: ignore[arg-type]
        ),
        _features_cache(cfg),
        torch.device("cuda" if accelerated else "cpu"),
        {split: cfg.trainer.get(f"limit_{split}_batches") for split in ("train", "val", "test")},
    )
    return FeatureDataModule(
        features, datamodule.num_classes, cfg.data.batch_size, cfg.data.min_steps_per_epoch
    )


def fit_probe(cfg: DictConfig, model: Any, datamodule: Any) -> dict[str, Any]:
    """LP-FT's first stage: the linear probe as `finetune_mode=linear` trains it (same data,
    budget and early stopping; no logger, no checkpoint files), its best-validation head loaded
    back into `model`. Returns its best val/acc and history."""
    keep, history = KeepBest("head", "val/acc"), MetricHistory(["val/acc", "val/loss"])
    callbacks: list[Any] = [keep, history]
    stopping = (cfg.callbacks.get("early_stopping") or {}).get("patience")
    if stopping is not None:
        callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=stopping))
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(Path(cfg.paths.output_dir) / LP_STAGE),
    )
    trainer.fit(model, datamodule=datamodule)
    keep.restore(model)
    return {"val/acc_best": keep.best, "history": history.history}


def finetune(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune as `cfg` says, test the best-validation checkpoint, write `metrics.json`."""
    validate(cfg, FinetuneConfig)  # a bad key or value fails here, before any work
    if cfg.get("baseline") is not None:
        return fit_classical(cfg)
    mode = finetune_mode(cfg)
    cfg.freeze_backbone = mode == "linear"
    if cfg.study.eval:
        study_eval.check(cfg)  # pk-eval's settings, before any pretraining or training
    if cfg.study.task is not None:  # before seeding: the fine-tune's RNG must not depend on it
        cfg.pretrained = study_pretrained(cfg)
    elif cfg.pretrained is None and cfg.study.scratch_modes is not None:  # a study's baseline
        if mode not in cfg.study.scratch_modes:
            log.info(f"skipped: this study's scratch baselines are {list(cfg.study.scratch_modes)}")
            return {}
        if (same := claim_scratch(cfg)) is not None:
            log.info(f"skipped: the same scratch run is already part of this study ({same})")
            return {}
    run = start_run(cfg)
    say(f"finetune: {plan(cfg, mode)}; outputs in {run.dir}")
    datamodule = instantiate(cfg.data)
    backbone, info = _backbone(cfg, datamodule)
    check_input_shape(backbone, cfg, datamodule)
    if study_eval.wanted(cfg, mode) and not run.resumed:
        study_eval.study_eval(cfg, backbone, run.dir)
    model = instantiate(
        cfg.model,
        backbone=backbone,
        num_classes=datamodule.num_classes,
        pretrained=cfg.pretrained is not None,
        freeze_backbone=mode != "finetune",  # LP-FT starts as a probe
    )
    features = None
    if mode != "finetune" and cfg.probe.cached_features:
        features = probe_data(cfg, backbone, datamodule)
        model.on_features = True
    lp_stage = None
    if mode == "lp_ft":
        lp_stage = fit_probe(cfg, model, features or datamodule)
        model.unfreeze()
    fit_data = features if mode == "linear" and features is not None else datamodule
    loggers = build_loggers(cfg, resumed=run.resumed)
    trainer = build_trainer(cfg, loggers)
    if info.get("wandb"):
        weights = locate(cfg.pretrained)
        use_backbone(loggers, info["wandb"]["artifact"], [weights, weights.with_name(SPEC)], info)
    trainer.fit(model, datamodule=fit_data, ckpt_path=run.ckpt_path)
    metrics = scalar_metrics(trainer)  # the last epoch's train/* and val/*
    # the callback that keeps best.ckpt (the others keep last.ckpt and step.ckpt)
    checkpoint = next((c for c in trainer.checkpoint_callbacks if c.monitor), None)
    best = None
    if checkpoint is not None and getattr(checkpoint, "best_model_path", ""):
        best = "best"
        metrics["val/acc_best"] = float(checkpoint.best_model_score)
    curves = history(trainer)  # now: testing from best.ckpt restores the callback's older state
    trainer.test(model, datamodule=fit_data, ckpt_path=best, verbose=False)  # say() tells
    metrics.update(scalar_metrics(trainer))
    about = describe(cfg, mode, info, backbone, datamodule.num_labeled)
    # W&B: tags, and `about` in the config so the UI can group by method, task, labels
    where = tag_run(loggers, tags(about), {"run": about})
    result = {**about, **metrics, "history": curves, "wandb": where}
    if lp_stage is not None:
        result["lp_stage"] = lp_stage
    if trainer.is_global_zero:
        write_json(run.dir / METRICS, result)
    finish(loggers)
    shown = metrics_line(metrics, ["test/acc", "test/f1", "val/acc_best"])
    say(f"finetune: done in {duration(time.monotonic() - run.started)}: {shown}")
    return result


def fit_classical(cfg: DictConfig) -> dict[str, Any]:
    """A classical baseline instead of a network: fit on the labeled subset a fine-tune of the
    same seed trains on, its settings chosen on the same validation split, scored on the same
    test split; `metrics.json` and a W&B run as a fine-tune writes them."""
    run = start_run(cfg)
    baseline = instantiate(cfg.baseline)
    say(f"finetune: classical baseline {baseline.name} on {data_plan(cfg)}; outputs in {run.dir}")
    datamodule = instantiate(cfg.data)
    splits = datamodule.labeled_splits()  # as its setup() draws them: no tokenizer, no tensors
    fitted = baseline.fit(splits, datamodule.num_classes)
    about = describe_classical(cfg, baseline, fitted, len(splits["train"]))
    loggers = build_loggers(cfg)
    for logger in loggers:
        logger.log_metrics(fitted.metrics, step=0)
    where = tag_run(loggers, tags(about), {"run": about})
    result = {**about, **fitted.metrics, "history": None, "wandb": where}
    write_json(run.dir / METRICS, result)
    finish(loggers)
    shown = metrics_line(fitted.metrics, ["test/acc", "test/f1", "val/acc_best"])
    chosen = " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fitted.chosen.items()
    )
    say(f"finetune: done in {duration(time.monotonic() - run.started)}: {shown} ({chosen})")
    return result


MODES = {"linear": "linear probe", "finetune": "fine-tune", "lp_ft": "LP-FT"}


def data_plan(cfg: DictConfig) -> str:
    """`digits, 1% of the labels`: the data and label budget of a run."""
    labels = (
        f"{cfg.labels_per_class} labels per class"
        if cfg.labels_per_class is not None
        else f"{100 * cfg.label_fraction:g}% of the labels"
    )
    return f"{cfg.dataset.name}, {labels}"


def plan(cfg: DictConfig, mode: str) -> str:
    """What a fine-tune does, in a few words: how, of what, on which data and labels."""
    of = cfg.pretrained or f"{backbone_name(cfg.backbone)} from scratch"
    return f"{MODES[mode]} of {of} on {data_plan(cfg)}"


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="finetune")
@exit_on_user_error
@keep_sweeping
def hydra_main(cfg: DictConfig) -> float | None:
    if cfg.get("resume"):  # the resumed run's own config, not this command line's
        cfg = resumed_config(cfg)
    result = finetune(cfg)
    return result.get(cfg.get("optimized_metric") or "")


def main() -> None:
    """`pk-finetune`: a run of its own W&B service, then Hydra's command line."""
    private_wandb_service()
    hydra_main()


if __name__ == "__main__":
    main()
