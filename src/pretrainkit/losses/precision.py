"""Losses in float32 under mixed precision."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable[..., object])


def in_float32(fn: F) -> F:
    """Run a loss method with autocast off and its tensor arguments cast to float32.

    Batch statistics (cross-correlation, covariance, softmax over 2N logits, cosines) lose
    too much in bfloat16: a bf16 autocast moved Barlow Twins' off-diagonal sum on a CPU batch
    from 4883 to 4960. Casting the inputs alone is not enough — autocast would recast every
    matmul back to bf16 — so autocast is switched off for the loss's device; the backbone
    still runs in bf16 and the cast's backward returns bf16 gradients to it.
    """

    @functools.wraps(fn)
    def wrapper(self: object, *args: object, **kwargs: object) -> object:
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        cast = [
            a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args
        ]
        with torch.autocast(device_type=device, enabled=False):
            return fn(self, *cast, **kwargs)

    return wrapper  # type: ignore[return-value]
