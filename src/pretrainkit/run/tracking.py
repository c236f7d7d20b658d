"""Experiment tracking: W&B that never needs a network, and backbone artifacts for lineage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_warn

from pretrainkit.run import console
from pretrainkit.run.files import WANDB_DIR
from pretrainkit.run.wandb_mode import wandb_mode


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger that picks online/offline by itself and falls back to offline
    when the online run cannot start (no network, server down): a run never fails for W&B.

    Offline runs land in `<save_dir>/wandb/offline-run-*`; upload them later with `wandb sync`.

    Args:
        mode: online | offline | disabled, or None: online iff logged in.
        init_timeout: seconds an online start may take before falling back to offline (W&B's
            own default, 90 s, is read once per process, so it is passed here explicitly).
        verbose: W&B's banner, run footer and sync hints on the terminal; without it only its
            warnings and errors show.
    """

    def __init__(
        self,
        mode: str | None = None,
        init_timeout: float | None = 30,
        verbose: bool = False,
        **kwargs: Any,
    ) -> None:
        import wandb

        settings = console.wandb_settings(verbose)
        if init_timeout is not None:
            settings["init_timeout"] = init_timeout
        kwargs["settings"] = wandb.Settings(**settings)
        super().__init__(mode=wandb_mode(mode), **kwargs)
        if self._wandb_init.get("anonymous") is None:  # W&B warns of the setting, even unset
            self._wandb_init.pop("anonymous", None)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        try:
            return self._start()
        except Exception as err:  # wandb raises CommError, UsageError, timeouts...
            if self._wandb_init.get("mode") != "online":
                raise
            rank_zero_warn(
                f"W&B could not start online ({err!r}); logging offline, sync later with `wandb sync`."
            )
            self._wandb_init["mode"] = "offline"
            return super().experiment

    def _start(self, waits: int = 6) -> Any:
        """Start (or resume) the run. Resuming right after a kill, the killed process's W&B
        service may still hold the run id for a few seconds ("run ID ... is in use"): wait for
        it, then log into a new run rather than fail."""
        for _ in range(waits):
            try:
                return super().experiment
            except Exception as err:
                if "is in use" not in str(err) or not self._wandb_init.get("id"):
                    raise
                time.sleep(5)
        rank_zero_warn(
            f"W&B run {self._wandb_init['id']} stayed in use; this launch logs to a new run."
        )
        self._wandb_init["id"] = None
        self._wandb_init.pop("resume", None)  # else W&B resumes the directory's latest run again
        return super().experiment

    @property
    def offline(self) -> bool:
        return self._wandb_init.get("mode") == "offline"


def previous_run_id(save_dir: str | Path) -> str | None:
    """The W&B run id a run directory already logged to: its newest `wandb/[offline-]run-*-<id>`."""
    runs = sorted(Path(save_dir, WANDB_DIR).glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
    return runs[-1].name.rsplit("-", 1)[1] if runs else None


def wandb_run(loggers: list[Logger]) -> Any | None:
    """The live W&B run among `loggers` (rank zero only), or None."""
    for logger in loggers:
        if isinstance(logger, _LightningWandbLogger):
            run = logger.experiment
            return run if hasattr(run, "log_artifact") else None
    return None


def backbone_artifact(name: str, files: list[Path], metadata: dict[str, Any]) -> Any:
    import wandb

    artifact = wandb.Artifact(name, type="backbone", metadata=metadata)
    for path in files:
        artifact.add_file(str(path), name=path.name)
    return artifact


def log_backbone(
    loggers: list[Logger], name: str, files: list[Path], metadata: dict[str, Any]
) -> None:
    """Log the exported backbone as a W&B artifact of the pretrain run."""
    run = wandb_run(loggers)
    if run is not None:
        run.log_artifact(backbone_artifact(name, files, metadata), aliases=["latest"])


def use_backbone(
    loggers: list[Logger], name: str, files: list[Path], metadata: dict[str, Any]
) -> None:
    """Mark the pretrain run's backbone artifact as this run's input, so W&B draws the lineage.

    The same files under the same name have the same digest, so W&B resolves this to the
    version the pretrain run logged. Offline runs cannot declare inputs (W&B's limitation);
    they record the artifact name in the config instead.
    """
    run = wandb_run(loggers)
    if run is None:
        return
    run.config.update({"pretrained_artifact": name}, allow_val_change=True)
    if any(getattr(logger, "offline", False) for logger in loggers):
        return
    run.use_artifact(backbone_artifact(name, files, metadata))


def log_image(
    loggers: list[Logger], key: str, path: Path, step: int, caption: str | None = None
) -> None:
    """Log the image file at `path` to every W&B logger (offline runs keep it as a media file)."""
    for logger in loggers:
        if isinstance(logger, _LightningWandbLogger):
            extra = {"caption": [caption]} if caption else {}
            logger.log_image(key, [str(path)], step=step, **extra)


def tag_run(
    loggers: list[Logger], tags: list[str], config: dict[str, Any]
) -> dict[str, Any] | None:
    """Add `tags` and `config` to the live W&B run; return where it lives (project, group,
    id) for `metrics.json`, or None without one."""
    run = wandb_run(loggers)
    if run is None:
        return None
    run.tags = tuple(dict.fromkeys([*run.tags, *tags]))  # W&B keeps tags up to 64 characters
    run.config.update(config, allow_val_change=True)
    return {"project": run.project, "group": run.group or None, "id": run.id}
