"""Denoising autoencoder: corrupt an image, reconstruct the clean one through the backbone."""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.backbones.base import Backbone
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.tasks.base import OptimizerFactory, PretextTask, SchedulerFactory, WeightDecay


def corrupt(x: torch.Tensor, noise_std: float, mask_ratio: float) -> torch.Tensor:
    """Add Gaussian noise of `noise_std`, then zero a random `mask_ratio` of pixel positions
    (all channels of a pixel together)."""
    noisy = x + noise_std * torch.randn_like(x)
    if mask_ratio > 0:
        keep = (
            torch.rand(x.shape[0], 1, *x.shape[2:], device=x.device) >= mask_ratio
        )  # (B, 1, H, W)
        noisy = noisy * keep
    return noisy


class ConvDecoder(nn.Module):
    """Feature vector -> image: a linear map to a 4x4 grid, then x2 upsampling conv blocks until
    the grid reaches `image_size` (resized to it exactly), then a 3x3 conv to `out_chans`."""

    def __init__(self, feature_dim: int, out_chans: int, image_size: int, width: int = 64) -> None:
        super().__init__()
        self.start, self.width, self.image_size = 4, width, image_size
        self.fc = nn.Linear(feature_dim, width * self.start**2)
        blocks: list[nn.Module] = []
        for _ in range(max(0, math.ceil(math.log2(image_size / self.start)))):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(width, out_chans, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(len(z), self.width, self.start, self.start)  # (B, W, 4, 4)
        x = self.blocks(x)  # (B, W, >= image_size, >= image_size)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        return self.out(x)  # (B, C, image_size, image_size)


class DenoisingAE(PretextTask):
    """Denoising autoencoder (Vincent et al., 2008, "Extracting and Composing Robust Features
    with Denoising Autoencoders", ICML): the backbone encodes a corrupted image (Gaussian noise
    and/or masked pixels) into its feature vector, a conv decoder reconstructs the clean image,
    and the loss is the mean squared error. The backbone is the encoder used downstream.
    """

    name = "denoising_ae"

    def __init__(
        self,
        backbone: Backbone,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        image_size: int = 32,
        in_chans: int = 3,
        noise_std: Annotated[float, Range(ge=0)] = 0.5,
        mask_ratio: Annotated[float, Range(ge=0, lt=1)] = 0.25,  # 0: noise only
        decoder_width: int = 64,
        weight_decay: WeightDecay = 1e-4,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, weight_decay)
        if noise_std == 0 and mask_ratio == 0:  # each one's range is in its annotation
            raise BadValueError(
                "task.noise_std=0, task.mask_ratio=0: nothing would be corrupted; set either, "
                "not both zero (e.g. task.noise_std=0.5)."
            )
        self.decoder = ConvDecoder(backbone.feature_dim, in_chans, image_size, decoder_width)
        self.noise_std, self.mask_ratio = noise_std, mask_ratio

    def step(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        recon = self.decoder(self.backbone(corrupt(x, self.noise_std, self.mask_ratio)))
        loss = F.mse_loss(recon, x)
        self.log_terms(stage, len(x), loss)
        return loss
