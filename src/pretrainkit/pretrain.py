"""Entry point one: pretrain a backbone with a pretext task on unlabeled images.

pk-pretrain task=simclr dataset=digits backbone=small_cnn trainer.max_epochs=50
"""

from __future__ import annotations

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from pretrainkit.config import config_dir
from pretrainkit.runs import build_loggers, build_trainer, finish, scalar_metrics, start_run


def pretrain(cfg: DictConfig) -> dict[str, float]:
    """Pretrain as `cfg` says; return the final metrics. The run directory gets
    `checkpoints/last.ckpt`, `backbone.safetensors` and `backbone.yaml`."""
    start_run(cfg)
    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    loggers = build_loggers(cfg)
    trainer = build_trainer(cfg, loggers)
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = scalar_metrics(trainer)
    finish(loggers)
    return metrics


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="pretrain")
def main(cfg: DictConfig) -> float | None:
    metrics = pretrain(cfg)
    return metrics.get(cfg.get("optimized_metric") or "")


if __name__ == "__main__":
    main()
