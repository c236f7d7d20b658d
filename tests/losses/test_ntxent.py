"""NT-Xent against a hand-written reference, and its 2-process equivalence with one process."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pretrainkit.losses.ntxent import NTXentLoss, nt_xent


def reference_ntxent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """The SimCLR paper's loss, written loop by loop."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = torch.stack([z[i] @ z[k] / tau for k in range(2 * n) if k != i])
        pos = z[i] @ z[j] / tau
        total = total - (pos - torch.logsumexp(sims, 0))
    return total / (2 * n)


def test_matches_reference():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 5), torch.randn(6, 5)
    assert torch.allclose(nt_xent(z1, z2, 0.3), reference_ntxent(z1, z2, 0.3), atol=1e-5)


def test_perfect_views_give_low_loss_and_chance_views_log_2n_minus_1():
    torch.manual_seed(0)
    z = F.one_hot(torch.arange(8), 16).float()
    assert nt_xent(z, z, 0.05) < 1e-3
    same = torch.ones(8, 4)  # every candidate equally similar: uniform over 2N-1 of them
    assert math.isclose(nt_xent(same, same, 0.5).item(), math.log(15), rel_tol=1e-5)


def test_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature=0"):
        NTXentLoss(temperature=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inputs() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(6, 4), torch.randn(8, 6), torch.randn(8, 6)  # global batch of 8


def _rank_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    layer, x1, x2 = _inputs()
    model = DistributedDataParallel(layer)
    b = len(x1) // world
    local = slice(rank * b, (rank + 1) * b)
    loss = NTXentLoss(temperature=0.2)(model(x1[local]), model(x2[local]))
    loss.backward()  # DDP averages the parameter gradients over ranks
    losses = [torch.zeros(()) for _ in range(world)]
    dist.all_gather(losses, loss.detach())
    if rank == 0:
        torch.save({"loss": torch.stack(losses).mean(), "grad": layer.weight.grad.clone()}, out)
    dist.barrier()  # neither rank tears gloo down while the other still talks to it
    dist.destroy_process_group()


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path: Path):
    """2 ranks x batch 4 must give the loss and gradients of 1 process x batch 8."""
    layer, x1, x2 = _inputs()
    single = NTXentLoss(temperature=0.2)(layer(x1), layer(x2))
    single.backward()

    out = tmp_path / "ddp.pt"
    mp.spawn(_rank_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    assert torch.allclose(ddp["loss"], single.detach(), atol=1e-6)
    assert torch.allclose(ddp["grad"], layer.weight.grad, atol=1e-6)
