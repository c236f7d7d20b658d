"""Learning-rate schedules built from the trainer's step budget."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.1, final_scale: float = 0.0
) -> LambdaLR:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to `final_scale`."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def scale(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return final_scale + (1 - final_scale) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, scale)
