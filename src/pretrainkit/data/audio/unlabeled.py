"""The audio pretraining data module: clips cut into random crops (the views), then mixed and
gained batch-wise on the training device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pretrainkit.data.audio.sources import AudioSource
from pretrainkit.data.audio.views import Crops
from pretrainkit.data.image.monitor import MonitorSet
from pretrainkit.data.loader import PoolLoaders
from pretrainkit.data.splits import stratified_split
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError


def clip_samples(clip_seconds: float, rate: int) -> int:
    if clip_seconds <= 0:
        raise BadValueError(f"data.clip_seconds={clip_seconds} must be > 0, e.g. 2.0.")
    return max(1, round(clip_seconds * rate))


class UnlabeledAudioDataModule(PoolLoaders):
    """Recordings for an audio pretext task: the source's unlabeled clips (never a test
    speaker's), less a `val_fraction` hold-out for `val/*`; each clip becomes the task's views
    (`transform`: crops of `clip_seconds`), and `device_transform` (gain and mixing) runs on
    whole batches after the transfer to the training device.

    Args:
        monitor: clips for the representation monitors (k-NN, probe, health).
    """

    def __init__(
        self,
        source: AudioSource,
        transform: Crops,
        device_transform: torch.nn.Module | None = None,
        clip_seconds: float = 2.0,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = True,
        val_fraction: float = 0.05,
        seed: int = 0,
        monitor: MonitorSet | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 2:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 2.")
        if not 0 <= val_fraction < 1:
            raise BadValueError(f"data.val_fraction={val_fraction} must be in [0, 1).")
        self.samples = clip_samples(clip_seconds, source.rate)
        self.source, self.transform = source, transform.bind(self.samples)
        self.device_transform = device_transform
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed, self.monitor = val_fraction, seed, monitor
        self.train_set: Transformed | None = None
        self.val_set: Transformed | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        pool = self.source.unlabeled()
        train_idx, val_idx = stratified_split(np.zeros(len(pool)), self.val_fraction, self.seed)
        if len(train_idx) < self.batch_size:
            raise BadValueError(
                f"the unlabeled clips are {len(train_idx)}, fewer than "
                f"data.batch_size={self.batch_size}; lower data.batch_size."
            )
        if self.monitor is not None:
            self.monitor.setup()
        self.train_set = Transformed(pool, self.transform, train_idx, with_target=False)
        self.val_set = (
            Transformed(pool, self.transform, val_idx, with_target=False) if len(val_idx) else None
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.device_transform is None:
            return batch
        return self.device_transform(batch)
