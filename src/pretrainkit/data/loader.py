"""DataLoader settings shared by the data modules."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.accelerators import CUDAAccelerator


def loader_kwargs(
    batch_size: int, num_workers: int, pin_memory: bool, trainer: Any | None
) -> dict[str, Any]:
    """Per-device batch size, workers kept alive between epochs, pinned memory only on GPU."""
    on_gpu = trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
    return {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "pin_memory": pin_memory and on_gpu,
    }
