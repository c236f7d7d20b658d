"""Random augmentations of a whole batch on its device, with per-image random parameters.

Each module mirrors the torchvision v2 transform of the same name (same arguments, same
parameter distributions) but draws every image's parameters at once, on the batch's device, and
never reads a value back to the host. Inputs and outputs are float images in [0, 1],
(B, C, H, W). `views.BatchViews` turns a uint8 batch into the views a task trains on.

Why not kornia or torchvision v2: torchvision v2 applied to a batch draws one set of
parameters for all of its images; kornia 0.9 draws per image, but on the CPU, and its base
class branches on `bool(to_apply.any())` (a host-device synchronisation per operation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pretrainkit.augment import functional as AF
from pretrainkit.errors import BadValueError


def coin(n: int, p: float, device: torch.device) -> torch.Tensor:
    """(B,) booleans, each True with probability `p`."""
    return torch.rand(n, device=device) < p


def pick(apply: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.where(apply.view(-1, 1, 1, 1), changed, x)


def uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high)


class RandomResizedCrop(nn.Module):
    """A random crop of each image (area share in `scale`, aspect in `ratio`), resized to `size`."""

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
    ) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        boxes = AF.crop_boxes(n, h, w, self.scale, self.ratio, x.device)
        return AF.resized_crop(x, boxes, self.size)


class RandomHorizontalFlip(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        return pick(coin(len(x), self.p, x.device), x.flip(-1), x)


class ColorJitter(nn.Module):
    """Brightness, contrast and saturation factors drawn from [1 - v, 1 + v], a hue shift from
    [-hue, hue], applied in a random order to a share `p` of the images (torchvision's
    `RandomApply([ColorJitter(...)], p)`). The order is drawn once per batch, not per image."""

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0 <= hue <= 0.5:
            raise BadValueError(f"hue={hue} must be in [0, 0.5].")
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.hue, self.p = hue, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        n, device = len(x), x.device
        ops = [
            (AF.adjust_brightness, self.brightness),
            (AF.adjust_contrast, self.contrast),
            (AF.adjust_saturation, self.saturation),
        ]
        factors = [(fn, uniform(n, max(0.0, 1 - v), 1 + v, device)) for fn, v in ops if v > 0]
        if self.hue > 0:
            factors.append((AF.adjust_hue, uniform(n, -self.hue, self.hue, device)))
        out = x
        for i in torch.randperm(len(factors)).tolist():  # a CPU draw: no device sync
            fn, factor = factors[i]
            out = fn(out, factor)
        return out if self.p >= 1 else pick(coin(n, self.p, device), out, x)


class RandomGrayscale(nn.Module):
    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0 or x.shape[1] == 1:
            return x
        return pick(coin(len(x), self.p, x.device), AF.grayscale(x).expand_as(x), x)


class GaussianBlur(nn.Module):
    """A Gaussian blur with sigma drawn from `sigma` per image, applied with probability `p`."""

    def __init__(
        self, kernel_size: int, sigma: Sequence[float] = (0.1, 2.0), p: float = 1.0
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise BadValueError(f"kernel_size={kernel_size} must be odd and positive.")
        self.kernel_size, self.sigma, self.p = kernel_size, (float(sigma[0]), float(sigma[1])), p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        n, pad = len(x), self.kernel_size // 2
        if pad >= min(x.shape[-2:]):
            raise BadValueError(
                f"GaussianBlur kernel_size={self.kernel_size} is too large for "
                f"{tuple(x.shape[-2:])} images (reflect padding); lower it."
            )
        sigma = uniform(n, *self.sigma, device=x.device)
        return pick(coin(n, self.p, x.device), AF.gaussian_blur(x, self.kernel_size, sigma), x)


class RandomSolarize(nn.Module):
    """Invert the pixels at or above `threshold`, given on the 0-255 scale as the CPU recipe's
    uint8 images use (128: the upper half), in a share `p` of the images."""

    def __init__(self, threshold: float = 128, p: float = 0.5) -> None:
        super().__init__()
        self.threshold, self.p = threshold / 255, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        return pick(coin(len(x), self.p, x.device), AF.solarize(x, self.threshold), x)
