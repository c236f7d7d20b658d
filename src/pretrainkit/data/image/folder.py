"""Images on disk as a source: a folder of image files, one subfolder per class when labeled,
every file checked once before use."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

import numpy as np

from pretrainkit.data.image.datasets import (
    ImageFiles,
    UnreadableImageError,
    check_image,
    check_policy,
    image_mode,
)
from pretrainkit.data.image.sources import ImageSource
from pretrainkit.data.splits import check_split, stratified_split
from pretrainkit.errors import MissingFileError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageFolder(ImageSource):
    """Images on disk.

    Unlabeled: every image file under `root`, recursively. Labeled: one subfolder of `root` per
    class; the test split is `test_root` (same layout) or, if not given, a fixed stratified
    `test_fraction` of `root` held out with `split_seed`. Images are converted to `mode` ("L",
    "RGB", or the channel count 1 or 3), whatever they are stored as.

    Every file is checked when the file list is built (headers only, see `check_image`): an
    unreadable one is an error with `on_bad_file="error"`, or is left out and counted in one
    logged warning with `on_bad_file="skip"`.
    """

    def __init__(
        self,
        root: str,
        test_root: str | None = None,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        mode: str | int = "RGB",
        on_bad_file: str = "error",
    ) -> None:
        self.root = Path(root).expanduser()
        self.test_root = Path(test_root).expanduser() if test_root else None
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.mode = image_mode(mode)
        self.on_bad_file = check_policy(on_bad_file)
        self._problems: dict[Path, str | None] = {}  # each file's check_image verdict

    def _images_under(self, folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise MissingFileError(
                f"image folder {folder} does not exist; set dataset.source.root=<dir>."
            )
        files = sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not files:
            raise MissingFileError(
                f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}; point dataset.source.root at a folder of images."
            )
        return files

    def _readable(self, files: list[Path], where: Path) -> list[Path]:
        """`files` less the unreadable ones (each checked once), by `on_bad_file`."""
        for path in files:
            if path not in self._problems:
                self._problems[path] = check_image(path)
        bad = [p for p in files if self._problems[p]]
        listed = "; ".join(f"{p} ({self._problems[p]})" for p in bad[:3])
        listed += f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        if bad and self.on_bad_file == "error":
            raise UnreadableImageError(
                f"{len(bad)} of {len(files)} image files under {where} cannot be read: {listed}. "
                "Fix or remove them, or set dataset.source.on_bad_file=skip to skip such files."
            )
        if len(bad) == len(files):
            raise UnreadableImageError(
                f"no readable images under {where}: all {len(files)} image files fail to open "
                f"({listed}); point dataset.source.root at a folder of readable images."
            )
        if bad:
            log.warning(
                "skipped %d of %d image files under %s that cannot be read "
                "(dataset.source.on_bad_file=skip): %s",
                len(bad),
                len(files),
                where,
                listed,
            )
        return [p for p in files if not self._problems[p]]

    @cached_property
    def classes(self) -> list[str]:  # type: ignore[override]
        classes = (
            sorted(d.name for d in self.root.iterdir() if d.is_dir()) if self.root.is_dir() else []
        )
        if not classes:
            raise MissingFileError(
                f"labeled image folder {self.root} has no class subfolders; lay it out as "
                f"{self.root}/<class_name>/<image files>."
            )
        return classes

    def _labeled_folder(self, folder: Path) -> ImageFiles:
        paths, targets = [], []
        for i, name in enumerate(self.classes):
            if not (folder / name).is_dir():
                raise MissingFileError(
                    f"{folder} lacks class folder {name!r} that {self.root} has."
                )
            files = self._images_under(folder / name)
            paths += files
            targets += [i] * len(files)
        readable = set(self._readable(paths, folder))
        keep = [j for j, p in enumerate(paths) if p in readable]
        kept_targets = np.asarray(targets)[keep]
        counts = np.bincount(kept_targets, minlength=len(self.classes))
        if counts.min() == 0:  # every file of a class skipped
            raise UnreadableImageError(
                f"no readable images in class folder {folder / self.classes[counts.argmin()]}: "
                "every file in it was skipped; fix them, or remove the class folder."
            )
        return ImageFiles([paths[j] for j in keep], kept_targets, self.mode, self.on_bad_file)

    @cached_property
    def _pool(self) -> ImageFiles:
        files = self._readable(self._images_under(self.root), self.root)
        return ImageFiles(files, mode=self.mode, on_bad_file=self.on_bad_file)

    def unlabeled(self) -> ImageFiles:
        return self._pool

    @cached_property
    def _train_test(self) -> dict[str, ImageFiles]:
        full = self._labeled_folder(self.root)
        if self.test_root is not None:
            return {"train": full, "test": self._labeled_folder(self.test_root)}
        train, test = stratified_split(full.targets, self.test_fraction, self.split_seed)

        def pick(idx: np.ndarray) -> ImageFiles:
            paths = [full.paths[i] for i in idx]
            return ImageFiles(paths, full.targets[idx], self.mode, self.on_bad_file)

        return {"train": pick(train), "test": pick(test)}

    def labeled(self, split: str) -> ImageFiles:
        check_split(split)
        return self._train_test[split]
