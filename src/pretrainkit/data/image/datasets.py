"""Map-style datasets the image sources return: images in memory, or image files on disk."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pretrainkit.errors import BadValueError, UserError

log = logging.getLogger(__name__)


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) held in memory, with integer targets (-1 when unlabeled)."""

    def __init__(self, images: torch.Tensor, targets: np.ndarray | None = None) -> None:
        if images.ndim != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images = images
        self.targets = np.full(len(images), -1) if targets is None else np.asarray(targets)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.targets[i])


# What a file on disk is turned into, by the channel count of the model's input.
MODES = {1: "L", 3: "RGB"}
BAD_FILE_POLICIES = ("error", "skip")
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


class UnreadableImageError(UserError, OSError):
    """An image file PIL cannot open or decode (an OSError, as PIL's own errors are)."""


def check_policy(on_bad_file: str) -> str:
    if on_bad_file not in BAD_FILE_POLICIES:
        raise BadValueError(
            f"dataset.source.on_bad_file={on_bad_file!r}: expected {' | '.join(BAD_FILE_POLICIES)}."
        )
    return on_bad_file


def image_mode(mode: str | int) -> str:
    """The PIL mode for `mode`: "L" or "RGB", or a channel count (1 or 3) naming one."""
    pil_mode = MODES.get(mode, mode) if isinstance(mode, int) else mode
    if pil_mode not in MODES.values():
        raise BadValueError(
            f"dataset.source.mode={mode!r}: expected L or RGB (or a channel count, 1 or 3)."
        )
    return pil_mode


def check_image(path: Path) -> str | None:
    """Why `path` is not a readable image, or None. Reads headers and (PNG) chunk checksums,
    decodes no pixels: cheap enough for every file at setup; a few corrupt files (a JPEG cut
    short after its header) only fail when decoded."""
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as err:  # PIL's format plugins raise OSError, SyntaxError, struct.error...
        return f"{type(err).__name__}: {err}"
    return None


def convert_image(img: Image.Image, mode: str) -> Image.Image:
    """`img` in `mode` ("L" or "RGB"), whatever it was stored as."""
    if img.mode in HIGH_BIT_MODES:  # PIL clips 16-bit values to 255: scale them down instead
        img = Image.fromarray((np.clip(np.asarray(img), 0, 65535) >> 8).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        # Onto white, so what lies under transparent pixels (often black, or junk) never shows.
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    return img.convert(mode)


class ImageFiles(Dataset):
    """Image files decoded on access with PIL and converted to `mode` ("L" or "RGB").

    A file that fails to decode raises an `UnreadableImageError` naming it; with
    `on_bad_file="skip"` the next readable file stands in for it instead, and the count of such
    stand-ins (per process: each DataLoader worker counts its own) is logged.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        targets: np.ndarray | None = None,
        mode: str | int = "RGB",
        on_bad_file: str = "error",
    ) -> None:
        self.paths = list(paths)
        self.targets = np.full(len(self.paths), -1) if targets is None else np.asarray(targets)
        self.mode = image_mode(mode)
        self.on_bad_file = check_policy(on_bad_file)
        self.bad: set[int] = set()  # indices found undecodable in this process

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> Image.Image:
        """The image at index `i` in `mode`; an `UnreadableImageError` naming the file if not."""
        try:
            with Image.open(self.paths[i]) as img:
                return convert_image(img, self.mode)
        except Exception as err:  # as in check_image: PIL raises many types
            raise UnreadableImageError(
                f"cannot decode image {self.paths[i]} ({type(err).__name__}: {err}); fix or "
                "remove it, or set dataset.source.on_bad_file=skip to substitute the next "
                "readable image for such files."
            ) from err

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        if self.on_bad_file == "error":
            return self.load(i), int(self.targets[i])
        for j in (k % len(self) for k in range(i, i + len(self))):
            if j in self.bad:
                continue
            try:
                return self.load(j), int(self.targets[j])
            except UnreadableImageError as err:
                self.bad.add(j)
                log.warning(
                    "skipped undecodable image %s (%s) for the next readable one "
                    "(dataset.source.on_bad_file=skip; %d skipped in this process so far)",
                    self.paths[j],
                    err.__cause__,
                    len(self.bad),
                )
        raise UnreadableImageError(f"none of the {len(self)} image files could be decoded.")
