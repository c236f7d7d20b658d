"""Resumable data order: every epoch's order is a function of (seed, epoch), so a run resumed
mid-epoch skips exactly the batches it already trained on, and every item's augmentation is
drawn from its own seed, so the skipped items' random draws do not shift the others'."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler


class EpochSampler(DistributedSampler):
    """This rank's share of a (shuffled) epoch, the same for a given (seed, epoch) in every
    process; `resume(epoch, skip)` makes the next iteration that epoch, minus its first `skip`
    indices. A `DistributedSampler`, so Lightning uses it as is under DDP.

    Args:
        seeded_items: yield `(index, item_seed)` pairs for datasets that seed their random
            transforms per item (see `Transformed`).
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        seeded_items: bool = False,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.seeded_items = seeded_items
        self.skip = 0

    def resume(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[Any]:
        indices = list(super().__iter__())[self.skip :]
        self.skip = 0  # only the first epoch after a resume is partial
        if not self.seeded_items:
            return iter(indices)
        base = (self.seed, self.epoch)
        return iter((i, hash((*base, i)) & 0x7FFF_FFFF_FFFF_FFFF) for i in indices)


def seeded_call(
    fn: Callable[[Any], Any], x: Any, seed: int | None, device: torch.device | None = None
) -> Any:
    """`fn(x)` with torch's CPU generator (and, for a CUDA `device`, that GPU's) seeded by
    `seed`, restored afterwards (so the caller's random stream, e.g. the training process's with
    `num_workers=0`, is left as it was). Only these generators: `torch.manual_seed` also seeds
    every accelerator, 20x slower. A CUDA generator's state lives on the host: no device sync."""
    if seed is None:
        return fn(x)
    generators = [torch.default_generator]
    if device is not None and device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        generators.append(torch.cuda.default_generators[index])
    states = [g.get_state() for g in generators]
    for g in generators:
        g.manual_seed(seed)
    try:
        return fn(x)
    finally:
        for g, state in zip(generators, states, strict=True):
            g.set_state(state)
