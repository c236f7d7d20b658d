"""I-JEPA's multi-block masks: a few target blocks to predict and one large context block with
the targets cut out, drawn per image on a ViT's patch grid, with equal counts across a batch
so the patches of a batch stack into one tensor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pretrainkit.errors import BadValueError


def block_size(grid: tuple[int, int], scale: float, aspect: float) -> tuple[int, int]:
    """Height and width, in patches, of a block covering about `scale` of the grid with
    height/width `aspect`: round(sqrt(n·a)) by round(sqrt(n/a)) for n = int(scale·N), as the
    paper's code; at least 1 patch a side, and at most the grid (its code stops one short of
    the grid, which on a 4x4 grid would keep the context block to 9 of 16 patches)."""
    gh, gw = grid
    area = int(scale * gh * gw)
    h = round(math.sqrt(area * aspect))
    w = round(math.sqrt(area / aspect))
    return min(max(h, 1), gh), min(max(w, 1), gw)


def block_indices(
    top: torch.Tensor, left: torch.Tensor, size: tuple[int, int], width: int
) -> torch.Tensor:
    """Row-major patch indices of `size` blocks at `top`, `left` (any shape S) on a grid
    `width` patches wide -> (*S, h*w), each block's patches in row-major order."""
    h, w = size
    rows = torch.arange(h, device=top.device).repeat_interleave(w)  # (h*w,)
    cols = torch.arange(w, device=top.device).repeat(h)  # (h*w,)
    return (top.unsqueeze(-1) + rows) * width + left.unsqueeze(-1) + cols


def random_blocks(
    batch_size: int,
    count: int,
    size: tuple[int, int],
    grid: tuple[int, int],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`count` blocks of `size` per image at uniform positions inside the grid, (B, count, h*w)."""
    (h, w), (gh, gw) = size, grid
    top = torch.randint(0, gh - h + 1, (batch_size, count), generator=generator)
    left = torch.randint(0, gw - w + 1, (batch_size, count), generator=generator)
    return block_indices(top, left, size, gw)


def keep_equal_counts(
    chosen: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Indices (B, K) of a uniform random K of each row's chosen patches (`chosen`: (B, N)
    bool), K the smallest row's count, in grid order. The paper's code keeps the first K in
    grid order instead, which always drops the bottom of a larger context."""
    k = int(chosen.sum(1).min())
    noise = torch.rand(chosen.shape, generator=generator)  # (B, N) in [0, 1)
    score = chosen.float() + noise  # chosen patches rank above every other
    return score.topk(k, dim=1).indices.sort(dim=1).values  # (B, K)


def _uniform(bounds: tuple[float, float], generator: torch.Generator | None) -> float:
    low, high = bounds
    return low + (high - low) * torch.rand((), generator=generator).item()


@dataclass(frozen=True)
class MultiBlockMasks:
    """I-JEPA's multi-block sampler (Assran et al., 2023, section 3 and appendix C).

    Per batch, one target block size (scale and aspect ratio drawn uniformly) and one square
    context block size; per image, `num_targets` target blocks and one context block at
    uniform positions, the targets removed from the context. Targets may overlap each other,
    never the context. Every target block of a batch has the same h*w patches, so targets
    stack as they are; context counts differ, and each image keeps a random subset of the
    batch's smallest count (the paper's code truncates the same way, to the first ones).

    Small grids: block sides are at least 1 and at most the grid; a grid of fewer than
    `num_targets` + `min_context` patches gets one-patch blocks, as many as leave that context
    (`count`: 3 on a 2x2 grid); if the blocks of the drawn size could hide all but fewer than
    `min_context` patches (a 2x2 draw on the 4x4 digits grid: 4 x 4 = 16), the longer side
    shrinks until they cannot; a context below `min_context` patches is redrawn (targets and
    context) up to `tries` times, then becomes every patch outside the targets, so a context
    always remains.

    Args:
        grid: the patch grid, (rows, columns).
        num_targets: target blocks per image (the paper's 4).
        target_scale: share of the grid a target block covers (the paper's 0.15-0.2).
        target_aspect: a target block's height/width (the paper's 0.75-1.5).
        context_scale: share of the grid the context block covers (the paper's 0.85-1.0).
        min_context: the fewest context patches, as a share of the grid (the paper's code: more
            than 10 of 196 patches, about 0.05).
        tries: redraws of a too-small context before the fallback.
    """

    grid: tuple[int, int]
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    min_context: float = 0.05
    tries: int = 20

    def __post_init__(self) -> None:
        if self.num_targets < 1 or self.count < 1:
            raise BadValueError(
                f"a {self.grid[0]}x{self.grid[1]} patch grid holds no target block beside a "
                f"context of {self.min_count}; use a smaller dataset.patch_size"
            )

    @property
    def min_count(self) -> int:
        """The fewest context patches."""
        return max(1, math.ceil(self.min_context * self.grid[0] * self.grid[1]))

    @property
    def count(self) -> int:
        """Target blocks per image: `num_targets`, or fewer where the grid is smaller."""
        return min(self.num_targets, self.grid[0] * self.grid[1] - self.min_count)

    def target_size(self, generator: torch.Generator | None = None) -> tuple[int, int]:
        """A target block size, shrunk (longer side first) until `count` such blocks
        leave at least `min_count` patches of the grid uncovered."""
        scale, aspect = (
            _uniform(self.target_scale, generator),
            _uniform(self.target_aspect, generator),
        )
        h, w = block_size(self.grid, scale, aspect)
        while self.count * h * w > self.grid[0] * self.grid[1] - self.min_count:
            h, w = (h - 1, w) if h >= w else (h, w - 1)
        return h, w

    def __call__(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context indices (B, K) in grid order and target indices (B, count, T), T = h*w
        of this batch's target size; on the CPU (the caller moves them)."""
        target_size = self.target_size(generator)
        context_size = block_size(self.grid, _uniform(self.context_scale, generator), 1.0)
        targets = random_blocks(batch_size, self.count, target_size, self.grid, generator)
        context = self.context(targets, context_size, generator)  # (B, N) bool
        redo = torch.nonzero(context.sum(1) < self.min_count).flatten()
        for _ in range(self.tries):
            if not len(redo):
                break
            again = random_blocks(len(redo), self.count, target_size, self.grid, generator)
            targets[redo], context[redo] = again, self.context(again, context_size, generator)
            redo = redo[context[redo].sum(1) < self.min_count]
        if len(redo):  # vanishingly rare: every patch the targets leave
            context[redo] = ~self.hidden(targets[redo])
        return keep_equal_counts(context, generator), targets

    def hidden(self, targets: torch.Tensor) -> torch.Tensor:
        """Target indices (B, M, T) -> (B, N) bool, True where a target block lies."""
        n = self.grid[0] * self.grid[1]
        hidden = torch.zeros(len(targets), n, dtype=torch.bool)
        return hidden.scatter_(1, targets.flatten(1), True)

    def context(
        self, targets: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None
    ) -> torch.Tensor:
        """A context block of `size` per image minus its targets (B, M, T) -> (B, N) bool."""
        block = random_blocks(len(targets), 1, size, self.grid, generator)[:, 0]  # (B, h*w)
        inside = torch.zeros(len(targets), self.grid[0] * self.grid[1], dtype=torch.bool)
        return inside.scatter_(1, block, True) & ~self.hidden(targets)
