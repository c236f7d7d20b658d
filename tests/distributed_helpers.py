"""A loss on 2 gloo processes x half the batch against 1 process x the whole batch.

The equivalence the DDP tests of every batch-statistic loss check: with DDP's gradient
averaging, the per-rank losses' mean and the parameter gradients must equal those of one
process on the concatenated batch (an all_gather whose backward forgets to sum over ranks
gives gradients 1/world_size too small).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

GLOBAL_BATCH = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inputs() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A linear embedding and two views of a global batch, the same in every process."""
    torch.manual_seed(0)
    return nn.Linear(6, 4), torch.randn(GLOBAL_BATCH, 6), torch.randn(GLOBAL_BATCH, 6)


def _result(loss: torch.Tensor, layer: nn.Linear) -> dict[str, torch.Tensor]:
    return {"loss": loss.detach(), "weight": layer.weight.grad, "bias": layer.bias.grad}


def _rank_worker(rank: int, world: int, port: int, loss_fn: nn.Module, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    layer, x1, x2 = inputs()
    model = DistributedDataParallel(layer)
    b = GLOBAL_BATCH // world
    local = slice(rank * b, (rank + 1) * b)
    loss = loss_fn(model(x1[local]), model(x2[local]))
    loss.backward()  # DDP averages the parameter gradients over ranks
    losses = [torch.zeros(()) for _ in range(world)]
    dist.all_gather(losses, loss.detach())
    if rank == 0:
        torch.save(_result(torch.stack(losses).mean(), layer), out)
    dist.barrier()  # neither rank tears gloo down while the other still talks to it
    Path(f"{out}.rank{rank}.done").touch()
    dist.destroy_process_group()


def ddp_and_single(
    loss_fn: nn.Module, tmp_path: Path, world: int = 2
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """`loss_fn(z1, z2)` on `world` gloo ranks (mean loss, DDP gradients) and on one process;
    each as {"loss", "weight", "bias"} with the embedding layer's gradients."""
    layer, x1, x2 = inputs()
    single = loss_fn(layer(x1), layer(x2))
    single.backward()
    out = tmp_path / "ddp.pt"
    try:
        mp.spawn(_rank_worker, args=(world, free_port(), loss_fn, str(out)), nprocs=world)
    except mp.ProcessExitedException:
        # gloo's teardown now and then aborts a rank ("terminate called without an active
        # exception") after its work is done; only a rank that died before its work counts
        if not all(Path(f"{out}.rank{r}.done").exists() for r in range(world)):
            raise
    return torch.load(out), _result(single, layer)


def assert_same(ddp: dict[str, torch.Tensor], single: dict[str, torch.Tensor]) -> None:
    for key in ("loss", "weight", "bias"):
        assert torch.allclose(ddp[key], single[key], atol=1e-6), (key, ddp[key], single[key])
