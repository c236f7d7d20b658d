"""Cross-rank collectives that keep the autograd graph."""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for this rank's slice.

    Each rank's loss depends on every rank's embeddings, so the gradient of the summed loss
    w.r.t. this rank's input is the sum over ranks of their gradients for it: an all_reduce(sum)
    of the incoming gradient, then this rank's slice. DDP's gradient averaging then turns the
    per-rank losses' mean into exactly the single-process loss on the concatenated batch.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, size = world()
        ctx.rank, ctx.batch = rank, x.shape[0]
        out = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out)  # (size * B, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, differentiably; identity on one process."""
    if world()[1] == 1:
        return x
    return _GatherWithGrad.apply(x)
