"""Image operations on a whole batch, each image with its own parameters.

Every function takes float images in [0, 1], shaped (B, C, H, W), and per-image parameters as
tensors on the images' device, and matches the torchvision v2 function of the same name applied
image by image (tests/augment/test_functional.py checks each against it). Nothing here reads a
tensor back to the host, so a batch's augmentation is queued on the GPU like the model's work.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale


def per_image(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1): one value broadcast over each image."""
    return values.view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma; a 1-channel batch is already gray."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (per_image(factor) * x + (1 - per_image(factor)) * other).clamp(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * per_image(factor)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(x, grayscale(x).mean((1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return x if x.shape[1] == 1 else blend(x, grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    flat = maxc == minc  # gray pixels: hue and saturation 0
    chroma = maxc - minc
    ones = torch.ones_like(maxc)
    s = chroma / torch.where(flat, ones, maxc)
    chroma = torch.where(flat, ones, chroma)
    rc, gc, bc = (maxc - r) / chroma, (maxc - g) / chroma, (maxc - b) / chroma
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.to(torch.int64) % 6
    p = (v * (1 - s)).clamp(0, 1)
    q = (v * (1 - s * f)).clamp(0, 1)
    t = (v * (1 - s * (1 - f))).clamp(0, 1)
    # (B, 3, 6, H, W): each channel's value in each of the six hue sectors; pick the pixel's own
    table = torch.stack(
        (
            torch.stack((v, q, p, p, t, v), 1),
            torch.stack((t, v, v, q, p, p), 1),
            torch.stack((p, p, t, v, v, q), 1),
        ),
        1,
    )
    index = sector.unsqueeze(1).unsqueeze(1).expand(-1, 3, 1, -1, -1)
    return table.gather(2, index).squeeze(2)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by `shift` (a fraction of the colour wheel, in [-0.5, 0.5])."""
    if x.shape[1] == 1:
        return x
    hsv = rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + shift.view(-1, 1, 1), 1.0)
    return hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), 1))


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop each image to its box (top, left, height, width in pixels) and resize it to `size`
    bilinearly, in one `grid_sample` for the batch. Equals torchvision's `resized_crop` with
    `antialias=False`, and with `antialias=True` wherever the box is not shrunk."""
    n, c, height, width = x.shape
    top, left, h, w = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    # output coordinates in [-1, 1] -> the box's span of the input, in the same units
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [n, c, *size], align_corners=False)  # (B, h, w, 2): x, y
    # Sample only inside the box, as cropping first does: its edge pixels repeat, not their
    # neighbours outside it. Pixel p's centre is at (2p + 1) / size - 1.
    low = torch.stack(((2 * left + 1) / width, (2 * top + 1) / height), 1) - 1  # (B, 2)
    high = torch.stack(((2 * (left + w) - 1) / width, (2 * (top + h) - 1) / height), 1) - 1
    grid = torch.maximum(torch.minimum(grid, high.view(n, 1, 1, 2)), low.view(n, 1, 1, 2))
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_kernels(kernel_size: int, sigma: torch.Tensor) -> torch.Tensor:
    """(B,) sigmas -> (B, kernel_size) normalised 1-D Gaussian kernels."""
    half = (kernel_size - 1) / 2
    x = torch.linspace(-half, half, kernel_size, device=sigma.device, dtype=sigma.dtype)
    pdf = torch.exp(-0.5 * (x / sigma.view(-1, 1)) ** 2)
    return pdf / pdf.sum(1, keepdim=True)


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur, reflect-padded; image b blurred with `sigma[b]`."""
    n, c, h, w = x.shape
    kernels = gaussian_kernels(kernel_size, sigma).repeat_interleave(c, 0)  # (B*C, k)
    pad = kernel_size // 2
    y = F.pad(x.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, kernels.view(n * c, 1, 1, kernel_size), groups=n * c)  # along the width
    y = F.conv2d(y, kernels.view(n * c, 1, kernel_size, 1), groups=n * c)  # along the height
    return y.view(n, c, h, w)


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    return torch.where(x >= threshold, 1 - x, x)


def crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device,
    tries: int = 10,
) -> torch.Tensor:
    """(B, 4) boxes (top, left, height, width) drawn as torchvision's RandomResizedCrop draws
    them: up to `tries` (area, aspect) candidates each, the first that fits; a centre crop at
    the nearest allowed aspect when none does. All images at once, on `device`."""
    area = height * width
    target = area * torch.empty(n, tries, device=device).uniform_(*scale)
    log_ratio = torch.empty(n, tries, device=device).uniform_(
        math.log(ratio[0]), math.log(ratio[1])
    )
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first fitting try (or try 0)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    top = torch.floor(torch.rand(n, device=device) * (height - h + 1))
    left = torch.floor(torch.rand(n, device=device) * (width - w + 1))
    fallback = torch.tensor(centre_box(height, width, ratio), device=device, dtype=w.dtype)
    boxes = torch.stack((top, left, h, w), 1)
    return torch.where(fits.any(1, keepdim=True), boxes, fallback)


def centre_box(height: int, width: int, ratio: tuple[float, float]) -> list[float]:
    """torchvision's fallback: the whole image, trimmed to the nearest allowed aspect ratio."""
    aspect = width / height
    w, h = width, height
    if aspect < ratio[0]:
        h = round(w / ratio[0])
    elif aspect > ratio[1]:
        w = round(h * ratio[1])
    return [float((height - h) // 2), float((width - w) // 2), float(h), float(w)]
