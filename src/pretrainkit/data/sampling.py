"""Resumable data order: every epoch's order is a function of (seed, epoch), so a run resumed
mid-epoch skips exactly the batches it already trained on, and every item's augmentation is
drawn from its own seed, so the skipped items' random draws do not shift the others'."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler


def epoch_repeats(num_items: int, batch_size: int, min_steps: int, world_size: int = 1) -> int:
    """How many times an epoch passes over `num_items` so that every rank gets at least
    `min_steps` full batches of `batch_size` (1: a plain epoch). A small labeled set is then
    repeated within the epoch: a fine-tune's budget counts optimizer steps, not passes over 10
    images, and validation runs every `min_steps` steps rather than after every one."""
    if num_items < 1 or min_steps < 1:
        return 1
    return max(1, math.ceil(min_steps * batch_size * world_size / num_items))


def steps_per_epoch(
    num_items: int, batch_size: int, min_steps: int, world_size: int = 1, drop_last: bool = True
) -> int:
    """Optimizer steps a rank takes per epoch of `num_items` under `epoch_repeats`."""
    total = num_items * epoch_repeats(num_items, batch_size, min_steps, world_size)
    per_rank = math.ceil(total / world_size)
    if drop_last and per_rank > batch_size:
        return per_rank // batch_size
    return math.ceil(per_rank / batch_size)


class EpochSampler(DistributedSampler):
    """This rank's share of a (shuffled) epoch, the same for a given (seed, epoch) in every
    process; `resume(epoch, skip)` makes the next iteration that epoch, minus its first `skip`
    indices. A `DistributedSampler`, so Lightning uses it as is under DDP.

    Args:
        seeded_items: yield `(index, item_seed)` pairs for datasets that seed their random
            transforms per item (see `Transformed`).
        repeats: passes over the dataset per epoch, each in its own shuffled order; an item's
            seed then also depends on the pass, so its repeats are augmented differently.
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        seeded_items: bool = False,
        repeats: int = 1,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.seeded_items = seeded_items
        self.repeats = max(1, repeats)
        self.skip = 0
        # as DistributedSampler (drop_last=False) sizes a dataset `repeats` times as long
        self.num_samples = math.ceil(len(dataset) * self.repeats / self.num_replicas)  # type: ignore[arg-type]
        self.total_size = self.num_samples * self.num_replicas

    def resume(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def _epoch(self) -> list[tuple[int, int]]:
        """The whole epoch, every rank's share, as (index, pass) pairs."""
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:  # pass 0 is DistributedSampler's order: one pass draws as before
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            orders = [torch.randperm(n, generator=g).tolist() for _ in range(self.repeats)]
        else:
            orders = [list(range(n))] * self.repeats
        pairs = [(i, r) for r, order in enumerate(orders) for i in order]
        padding = self.total_size - len(pairs)
        pairs += (pairs * math.ceil(padding / max(len(pairs), 1)))[:padding]
        return pairs[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[Any]:
        pairs = self._epoch()[self.skip :]
        self.skip = 0  # only the first epoch after a resume is partial
        if not self.seeded_items:
            return iter(i for i, _ in pairs)
        base = (self.seed, self.epoch)
        return iter(
            (i, hash((*base, i) if r == 0 else (*base, i, r)) & 0x7FFF_FFFF_FFFF_FFFF)
            for i, r in pairs
        )


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
