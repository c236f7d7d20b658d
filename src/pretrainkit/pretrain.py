"""Entry point one: pretrain a backbone with a pretext task on unlabeled images or text.

pk-pretrain task=simclr dataset=digits backbone=small_cnn trainer.max_epochs=50
pk-pretrain task=mlm dataset=fortunes trainer.max_epochs=5
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pretrainkit.callbacks import BackboneExport, EpochHistory
from pretrainkit.config import config_dir
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.errors import exit_on_user_error
from pretrainkit.run.console import backbone_name, duration, metrics_line, say
from pretrainkit.run.files import HISTORY
from pretrainkit.run.io import write_json
from pretrainkit.run.resume import resumed_config
from pretrainkit.run.steps import build_loggers, build_trainer, finish, scalar_metrics, start_run
from pretrainkit.run.sweeps import keep_sweeping
from pretrainkit.run.tracking import tag_run
from pretrainkit.run.wandb_mode import private_wandb_service


def pretrain(cfg: DictConfig) -> dict[str, float]:
    """Pretrain as `cfg` says; return the final metrics. The run directory gets
    `checkpoints/last.ckpt`, `backbone.safetensors` and `backbone.yaml` (and, for text,
    `tokenizer/` and `hf/`, a `save_pretrained` model with its tokenizer)."""
    validate(cfg, PretrainConfig)  # a bad key or value fails here, before any work
    run = start_run(cfg)
    say(f"pretrain: {plan(cfg)}; outputs in {run.dir}")
    datamodule = instantiate(cfg.data)
    # text: the vocabulary size and special ids come from the (trained or loaded) tokenizer
    backbone = instantiate(cfg.backbone, **getattr(datamodule, "backbone_kwargs", {}))
    task = instantiate(cfg.task, backbone=backbone)
    loggers = build_loggers(cfg, resumed=run.resumed)
    trainer = build_trainer(cfg, loggers)
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(callback, BackboneExport):
            callback.config = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    trainer.fit(task, datamodule=datamodule, ckpt_path=run.ckpt_path)
    metrics = scalar_metrics(trainer)
    write_history(trainer, run.dir)
    tag_run(loggers, [f"task:{task.name}", f"seed:{cfg.seed}"], {})
    finish(loggers)
    shown = metrics_line(metrics, [cfg.optimized_metric, "val/knn_acc", "val/probe_acc"])
    say(f"pretrain: done in {duration(time.monotonic() - run.started)}: {shown}")
    return metrics


def write_history(trainer: L.Trainer, run_dir: Path) -> None:
    """`history.json`: the per-epoch curve EpochHistory kept (rank zero; none without it)."""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(callback, EpochHistory) and trainer.is_global_zero:
            write_json(run_dir / HISTORY, callback.history)


def plan(cfg: DictConfig) -> str:
    """What a pretraining does, in a few words: task, data, backbone, budget."""
    task, epochs = cfg.task._target_.rsplit(".", 1)[-1], cfg.trainer.max_epochs
    return (
        f"{task} on {cfg.dataset.name}, backbone {backbone_name(cfg.backbone)}, "
        f"{epochs} epoch{'' if epochs == 1 else 's'}"
    )


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="pretrain")
@exit_on_user_error
@keep_sweeping
def hydra_main(cfg: DictConfig) -> float | None:
    if cfg.get("resume"):  # the resumed run's own config, not this command line's
        cfg = resumed_config(cfg)
    metrics = pretrain(cfg)
    return metrics.get(cfg.get("optimized_metric") or "")


def main() -> None:
    """`pk-pretrain`: a run of its own W&B service, then Hydra's command line."""
    private_wandb_service()
    hydra_main()


if __name__ == "__main__":
    main()
