"""Export the pretrained backbone at the end of pretraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from pretrainkit.run.export import save_backbone
from pretrainkit.run.tracking import log_backbone, wandb_run


class BackboneExport(Callback):
    """Write `backbone.safetensors` + `backbone.yaml` to `dirpath` when fitting ends (plus
    whatever the task's own `export(dirpath)` writes), and log them to W&B as the artifact
    `backbone-<run id>` (what fine-tune runs then use).

    Args:
        dirpath: the run directory.
        metadata: facts fine-tuning needs besides the architecture (dataset, input size, ...).
    """

    def __init__(self, dirpath: str, metadata: dict[str, Any] | None = None) -> None:
        self.dirpath = Path(dirpath)
        self.config: dict[str, Any] | None = None  # the run's resolved config, set by pk-pretrain
        self.metadata: dict[str, Any] = OmegaConf.to_container(
            OmegaConf.create(dict(metadata or {})), resolve=True
        )  # type: ignore[assignment]

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.interrupted:
            return
        run = wandb_run(trainer.loggers)
        metadata = {
            "task": getattr(pl_module, "name", type(pl_module).__name__.lower()),
            **self.metadata,
        }
        if run is not None:
            metadata["wandb"] = {
                "run_id": run.id,
                "project": run.project,
                "artifact": f"backbone-{run.id}",
            }
        if self.config is not None:  # what made these weights travels with them
            metadata["config"] = self.config
        files = save_backbone(pl_module.backbone, self.dirpath, metadata)
        if hasattr(pl_module, "export"):  # e.g. language models: save_pretrained model + tokenizer
            files += pl_module.export(self.dirpath)
        if run is not None:
            log_backbone(trainer.loggers, metadata["wandb"]["artifact"], files, metadata)
