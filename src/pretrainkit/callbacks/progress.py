"""A progress bar that reads the training metrics only when Lightning logs them."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class LoggedMetricsBar(TQDMProgressBar):
    """Lightning's tqdm bar, showing `keys` read on logging steps and at epoch ends only.

    Reading a metric's value off an accelerator makes the host wait until every queued kernel
    has run (a host-device sync), so the next step's kernels are not queued ahead. Lightning
    converts each metric logged with `prog_bar=True` and `on_step=True` to a Python number
    after every training batch, whatever the bar's refresh rate (its logger connector's
    `on_batch_end` reads `progress_bar_metrics`, which calls `.item()`); the tasks therefore
    log their training-step metrics without `prog_bar`, and this bar reads `keys` from
    `trainer.callback_metrics` on the steps Lightning logs at (`trainer.log_every_n_steps`),
    where the loggers read them anyway, and at each epoch's end (the epoch means). The count
    and speed still move every `refresh_rate` batches: they need no tensor.

    Written to a file or a pipe (a SLURM log, `make demo | tee`), where a bar cannot redraw in
    place, it shows the training bar only: the sanity, validation and test bars would add
    lines every epoch.

    Args:
        keys: the training metrics to show (absent ones are skipped).
        refresh_rate: redraw every this many batches.
    """

    def __init__(
        self, keys: list[str] | tuple[str, ...] = ("train/loss",), refresh_rate: int = 1
    ) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.keys = list(keys)
        self._shown: dict[str, float] = {}

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        # Lightning's own test for "this step is logged" (its LearningRateMonitor uses it too).
        if trainer._logger_connector.should_update_logs:
            self._shown = self._read(trainer)
        super().on_train_batch_end(trainer, pl_module, *args)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shown = self._read(trainer)
        super().on_train_epoch_end(trainer, pl_module)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        return {**super().get_metrics(trainer, pl_module), **self._shown}

    def _read(self, trainer: L.Trainer) -> dict[str, float]:
        metrics = trainer.callback_metrics
        return {key: metrics[key].item() for key in self.keys if key in metrics}

    def init_sanity_tqdm(self) -> Tqdm:
        return super().init_sanity_tqdm() if _redraws() else Tqdm(disable=True)

    def init_validation_tqdm(self) -> Tqdm:
        return super().init_validation_tqdm() if _redraws() else Tqdm(disable=True)

    def init_test_tqdm(self) -> Tqdm:
        return super().init_test_tqdm() if _redraws() else Tqdm(disable=True)


def _redraws() -> bool:
    """Whether the bars' stream (Lightning's: stdout) is a terminal, where they redraw."""
    return sys.stdout.isatty()
