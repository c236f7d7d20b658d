"""The views audio tasks train on: random crops of a clip in time (per clip, in the loader),
then random gain and mixing with another clip of the batch (whole batches on the training
device). Masking in frequency and time (SpecAugment) happens on the log-mel, in the backbone
(`pretrainkit.backbones.audio`)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch

from pretrainkit.config.values import Range
from pretrainkit.data.audio.readers import fit_length


class Crops:
    """A clip -> `n_views` crops of `samples` each (1: one tensor, else a list), at random
    offsets (`random`: training) or the clip's centre (`center`: evaluation); shorter clips are
    zero-padded. The length is bound by the data module (`bind`), from its clip_seconds and the
    source's rate. Random offsets draw from torch's generator, which the loader seeds per clip."""

    def __init__(self, n_views: Annotated[int, Range(ge=1)] = 1, mode: str = "random") -> None:
        self.n_views, self.mode = n_views, mode
        self.samples: int | None = None

    def bind(self, samples: int) -> Crops:
        self.samples = samples
        return self

    def __call__(self, wave: np.ndarray) -> torch.Tensor | list[torch.Tensor]:
        assert self.samples is not None, "bind() the crop length first"
        crops = [fit_length(wave, self.samples, self.mode) for _ in range(self.n_views)]
        return crops[0] if self.n_views == 1 else crops


class GainAndMix(torch.nn.Module):
    """Batched waveform views (B, samples), on the training device: each clip scaled by a
    random gain of +-`gain_db` decibels and mixed with another clip of the batch at a random
    share up to `mix_max` (x <- (1 - a) x + a x_other, a ~ U(0, mix_max)), as BYOL-A (Niizumi et
    al., 2021) mixes in a background clip; its cost is two elementwise passes."""

    def __init__(
        self,
        gain_db: Annotated[float, Range(ge=0)] = 6.0,
        mix_max: Annotated[float, Range(ge=0, lt=1)] = 0.4,
    ) -> None:
        super().__init__()
        self.gain_db, self.mix_max = gain_db, mix_max

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        b = len(waves)
        shape = (b,) + (1,) * (waves.ndim - 1)
        if self.mix_max > 0 and b > 1:
            share = torch.rand(shape, device=waves.device) * self.mix_max
            other = waves[torch.randperm(b, device=waves.device)]
            waves = (1 - share) * waves + share * other
        if self.gain_db > 0:
            db = (torch.rand(shape, device=waves.device) * 2 - 1) * self.gain_db
            waves = waves * 10 ** (db / 20)
        return waves


class BatchViews(torch.nn.Module):
    """Every view of a batch ([views] of (B, samples)) through `transform`, each its own draw."""

    def __init__(self, transform: torch.nn.Module) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.transform(v) for v in views]
