"""Features of a frozen backbone, computed once per (backbone, data, split) and kept on disk, so
the linear probes of a sweep (every learning rate, and LP-FT's first stage) share them."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, Subset

from pretrainkit.data.features import Features
from pretrainkit.run.io import atomic_write

log = logging.getLogger(__name__)

# data-module settings that do not change which examples a split holds or how they are processed
LOADER_KEYS = {"batch_size", "num_workers", "pin_memory", "min_steps_per_epoch", "output_dir"}
BUDGET_KEYS = {"seed", "label_fraction", "labels_per_class", "val_fraction"}  # in the indices


def state_digest(module: torch.nn.Module) -> str:
    """A digest of a module's weights: equal for the same weights, whatever file they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def data_digest(data: dict[str, Any], dataset: dict[str, Any]) -> str:
    """A digest of what makes an example's features: the dataset and the processing (budget and
    loader settings left out: the split's indices say which examples)."""
    kept = {k: v for k, v in data.items() if k not in LOADER_KEYS | BUDGET_KEYS}
    return hashlib.sha256(
        json.dumps([kept, dataset], sort_keys=True, default=str).encode()
    ).hexdigest()


def limited(num_items: int, batch_size: int, limit: float | int | None) -> int:
    """How many of a split's items a Trainer `limit_*_batches` lets through (in order): an int
    is a number of batches, a float a fraction of them (as Lightning reads it)."""
    if limit is None or (isinstance(limit, float) and limit >= 1.0):
        return num_items
    batches = (
        limit if isinstance(limit, int) else math.ceil(limit * math.ceil(num_items / batch_size))
    )
    return min(num_items, batches * batch_size)


@torch.no_grad()
def extract(
    backbone: torch.nn.Module, dataset: Any, batch_size: int, collate_fn: Any, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) float32 features on the CPU and (N,) targets, in the dataset's order."""
    was_training = backbone.training
    backbone.eval().to(device)
    feats, targets = [], []
    try:
        for x, y in DataLoader(dataset, batch_size=batch_size, collate_fn=collate_fn):
            x = x.to(device) if torch.is_tensor(x) else {k: v.to(device) for k, v in x.items()}
            feats.append(backbone(x).float().cpu())
            targets.append(torch.as_tensor(y))
    finally:
        backbone.train(was_training)
    return torch.cat(feats), torch.cat(targets).long()


def probe_features(
    backbone: torch.nn.Module,
    datamodule: Any,
    data_key: str,
    cache_dir: Path | None,
    device: torch.device,
    limits: dict[str, float | int | None] | None = None,
) -> Features:
    """train/val/test features of `backbone` on `datamodule.probe_sets()`; with `cache_dir`,
    read from (or first written to) `<cache_dir>/<key>.pt`, one file per split, under a lock so
    concurrent jobs of a sweep compute each once. `limits` (split -> the trainer's
    `limit_<split>_batches`) keeps only the first items a limited run would see."""
    # the weights, and what else makes the features (a text backbone's pooling)
    weights = state_digest(backbone) + json.dumps(
        getattr(backbone, "spec", {}), sort_keys=True, default=str
    )
    out: Features = {}
    for split, (dataset, indices) in datamodule.probe_sets().items():
        n = limited(len(indices), datamodule.batch_size, (limits or {}).get(split))
        if n < len(indices):
            dataset, indices = Subset(dataset, range(n)), indices[:n]
        index_digest = hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()
        key = hashlib.sha256(f"{weights}/{data_key}/{split}/{index_digest}".encode()).hexdigest()

        def compute(dataset: Any = dataset) -> tuple[torch.Tensor, torch.Tensor]:
            collate = datamodule.collate_fn()
            return extract(backbone, dataset, datamodule.batch_size, collate, device)

        if cache_dir is None:
            out[split] = compute()
            continue
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"{key[:16]}.pt"
        with FileLock(f"{path}.lock"):
            if path.is_file():
                out[split] = torch.load(path)
                continue
            out[split] = compute()
            atomic_write(path, lambda tmp, value=out[split]: torch.save(value, tmp))
            log.info("cached %s features of %d examples in %s", split, len(out[split][1]), path)
    return out
