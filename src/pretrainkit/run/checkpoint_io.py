"""Checkpoints written atomically: a kill during a save leaves the previous file intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pretrainkit.run.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each local checkpoint to a temporary file beside it, syncs it to disk, then
    renames it over the target (atomic on POSIX). Remote paths (s3://...) go through
    Lightning's usual writer."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} takes no storage_options, got {storage_options!r}"
            )
        if "file" not in get_filesystem(path).protocol:
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: _save_synced(checkpoint, tmp))


def _save_synced(checkpoint: dict[str, Any], tmp: str) -> None:
    with open(tmp, "wb") as f:
        torch.save(checkpoint, f)
        f.flush()
        os.fsync(f.fileno())
