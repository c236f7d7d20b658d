"""Checkpoints written atomically: a kill during a save leaves the previous file intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pretrainkit.errors import BadValueError
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


def remove_partial_saves(dirpath: Path) -> list[Path]:
    """Delete the temporary files (`.last.ckpt.<random>`) that saves killed mid-write left in
    `dirpath`; return them. Call it before a run saves there again."""
    partial = sorted(dirpath.glob(".*.ckpt.*")) if dirpath.is_dir() else []
    for path in partial:
        path.unlink(missing_ok=True)
    return partial


def epochs_done(path: str | os.PathLike, given: str) -> int:
    """How many epochs the Lightning checkpoint at `path` (the setting `given`, e.g.
    `ckpt_path=...`) has trained: the current epoch a fit restored from it starts in."""
    try:  # mmap: only the few bytes asked for are read
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError...
        why = f"{type(err).__name__}: {err}".splitlines()[0]
        raise BadValueError(
            f"{given}: {path} is not a checkpoint torch can read ({why}); give a "
            "checkpoints/*.ckpt file a run wrote."
        ) from err
    loops = state.get("loops") if isinstance(state, dict) else None
    try:
        return int(loops["fit_loop"]["epoch_progress"]["current"]["processed"])  # type: ignore[index]
    except (KeyError, TypeError):  # not written by a fit: it starts at epoch 0
        return 0


def _save_synced(checkpoint: dict[str, Any], tmp: str) -> None:
    with open(tmp, "wb") as f:
        torch.save(checkpoint, f)
        f.flush()
        os.fsync(f.fileno())
