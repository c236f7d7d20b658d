"""EpochSampler: a fixed order per (seed, epoch), shared out over ranks, resumable mid-epoch."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from pretrainkit.data.sampling import EpochSampler
from pretrainkit.data.transformed import Transformed

N = 50


def _order(rank: int = 0, world: int = 1, epoch: int = 0, seed: int = 0, skip: int = 0) -> list:
    sampler = EpochSampler(range(N), num_replicas=world, rank=rank, seed=seed)  # type: ignore[arg-type]
    sampler.resume(epoch, skip)
    return list(sampler)


def test_order_is_a_function_of_seed_and_epoch():
    assert _order() == _order() and sorted(_order()) == list(range(N))
    assert _order(epoch=1) != _order(epoch=0)
    assert _order(seed=1) != _order(seed=0)


def test_ranks_share_out_one_epoch():
    a, b = _order(rank=0, world=2, epoch=3), _order(rank=1, world=2, epoch=3)
    assert len(a) == len(b) == N // 2 and sorted(a + b) == list(range(N))


def test_resume_skips_exactly_the_trained_part_once():
    sampler = EpochSampler(range(N), seed=0)  # type: ignore[arg-type]
    sampler.resume(2, 20)
    assert list(sampler) == _order(epoch=2)[20:]
    assert list(sampler) == _order(epoch=2)  # the next iteration is whole again


def test_item_seeds_make_random_transforms_independent_of_worker_and_skip():
    images = [(torch.zeros(3), 0)] * N
    noisy = Transformed(images, lambda x: x + torch.rand(3), with_target=False)  # type: ignore[arg-type]

    def batches(num_workers: int, skip: int) -> torch.Tensor:
        sampler = EpochSampler(noisy, seed=0, seeded_items=True)
        sampler.resume(1, skip)
        loader = DataLoader(
            noisy,
            sampler=sampler,
            batch_size=5,
            num_workers=num_workers,
            generator=torch.Generator(),
        )
        return torch.cat(list(loader))

    whole = batches(0, 0)
    torch.rand(100)  # the caller's stream does not matter, and is not moved by the items
    state = torch.get_rng_state()
    assert torch.equal(batches(0, 10), whole[10:])
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(batches(2, 10), whole[10:])
    assert len(set(whole[:, 0].tolist())) == N  # still random: every item draws differently
