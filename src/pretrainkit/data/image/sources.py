"""Where images come from. A source returns an unlabeled pool and labeled train/test splits;
the data modules decide what to do with them, so one source serves pretraining and fine-tuning.
"""

from __future__ import annotations

import gzip
import logging
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from pretrainkit.data.datasets import (
    ImageFiles,
    TensorImages,
    UnreadableImageError,
    check_image,
    check_policy,
    image_mode,
)
from pretrainkit.data.splits import stratified_split

log = logging.getLogger(__name__)

IDX_FIX = (
    "reinstall it (`sudo apt-get install --reinstall dataset-fashion-mnist`), or delete it and "
    "set dataset.source.download=true."
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageSource(ABC):
    """A dataset of images: `unlabeled()` for pretraining, `labeled(split)` for fine-tuning."""

    classes: list[str]

    @abstractmethod
    def unlabeled(self) -> TensorImages | ImageFiles:
        """Images for pretraining (targets ignored)."""

    @abstractmethod
    def labeled(self, split: str) -> TensorImages | ImageFiles:
        """The labeled "train" or "test" split; `.targets` holds class indices."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'.")


class InMemorySource(ImageSource):
    """A source whose splits are uint8 tensors, loaded once on first use."""

    @abstractmethod
    def load(self) -> dict[str, TensorImages]:
        """{"train": ..., "test": ...}."""

    @cached_property
    def _splits(self) -> dict[str, TensorImages]:
        return self.load()

    def unlabeled(self) -> TensorImages:
        return TensorImages(self._splits["train"].images)

    def labeled(self, split: str) -> TensorImages:
        _check_split(split)
        return self._splits[split]


class Digits(InMemorySource):
    """scikit-learn's bundled digits: 1,797 8x8 grayscale images, 10 classes, no download.

    It has no official test split, so a fixed stratified `test_fraction` is held out with
    `split_seed` (the same for every run, so test numbers compare across runs).
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, test_fraction: float = 0.2, split_seed: int = 0) -> None:
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def load(self) -> dict[str, TensorImages]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(np.round(bunch.images * (255 / 16)).astype(np.uint8))[
            :, None
        ]  # (N, 1, 8, 8)
        train, test = stratified_split(bunch.target, self.test_fraction, self.split_seed)
        return {
            "train": TensorImages(images[train], bunch.target[train]),
            "test": TensorImages(images[test], bunch.target[test]),
        }


def _read_idx(path: Path) -> np.ndarray:
    """Read an (optionally gzipped) IDX file of uint8 as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # a truncated or corrupt .gz
        raise ValueError(f"cannot read {path} ({err}); {IDX_FIX}") from err
    ndim = data[3] if len(data) > 3 and data[:3] == b"\x00\x00\x08" else 0
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(shape)) if ndim else None
    if expected != len(data):
        raise ValueError(
            f"{path} is not a complete IDX file of uint8 ({len(data)} bytes, expected "
            f"{expected or 'an IDX header'}); {IDX_FIX}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class FashionMNIST(InMemorySource):
    """Fashion-MNIST (Xiao et al., 2017): 70,000 28x28 grayscale images, 10 classes.

    Read from IDX files in `root` (Debian's `dataset-fashion-mnist` puts them in
    /usr/share/datasets/fashion-mnist); with `download=True` torchvision fetches them instead.
    """

    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}  # fmt: skip

    def __init__(
        self, root: str = "/usr/share/datasets/fashion-mnist", download: bool = False
    ) -> None:
        self.root = Path(root).expanduser()
        self.download = download

    def _find(self, stem: str) -> Path | None:
        for path in (
            self.root / stem,
            self.root / f"{stem}.gz",
            self.root / "FashionMNIST/raw" / stem,
        ):
            if path.is_file():
                return path
        return None

    def load(self) -> dict[str, TensorImages]:
        if self._find(self.FILES["train"][0]) is None and self.download:
            from torchvision.datasets import FashionMNIST as TV

            TV(str(self.root), train=True, download=True)
            TV(str(self.root), train=False, download=True)
        out = {}
        for split, (img_stem, lbl_stem) in self.FILES.items():
            img, lbl = self._find(img_stem), self._find(lbl_stem)
            if img is None or lbl is None:
                raise FileNotFoundError(
                    f"Fashion-MNIST {split} files ({img_stem}[.gz]) not found in {self.root}. "
                    "Install Debian's package: `sudo apt-get install dataset-fashion-mnist` (or "
                    "`make data`), or set dataset.source.root=<dir> dataset.source.download=true "
                    "to fetch it."
                )
            images = torch.from_numpy(_read_idx(img).copy())[:, None]  # (N, 1, 28, 28)
            out[split] = TensorImages(images, _read_idx(lbl).astype(np.int64))
        return out


class CIFAR10(InMemorySource):
    """CIFAR-10 through torchvision: 60,000 32x32 colour images, 10 classes."""

    classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]

    def __init__(self, root: str = "~/.cache/pretrainkit/cifar10", download: bool = False) -> None:
        self.root = str(Path(root).expanduser())
        self.download = download

    def load(self) -> dict[str, TensorImages]:
        from torchvision.datasets import CIFAR10 as TV

        out = {}
        for split in ("train", "test"):
            try:
                ds = TV(self.root, train=split == "train", download=self.download)
            except RuntimeError as e:  # torchvision: "Dataset not found or corrupted."
                raise FileNotFoundError(
                    f"CIFAR-10 not found in {self.root} ({e}); set dataset.source.download=true "
                    "(needs network) or dataset.source.root=<dir holding cifar-10-batches-py>."
                ) from e
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
            out[split] = TensorImages(images, np.asarray(ds.targets))
        return out


class STL10(InMemorySource):
    """STL-10 through torchvision: 100,000 unlabeled + 5,000 labeled train + 8,000 test 96x96
    colour images, 10 classes. Pretraining uses `unlabeled_split` ("unlabeled" or
    "train+unlabeled").
    """

    classes = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]

    def __init__(
        self,
        root: str = "~/.cache/pretrainkit/stl10",
        download: bool = False,
        unlabeled_split: str = "train+unlabeled",
    ) -> None:
        self.root = str(Path(root).expanduser())
        self.download = download
        self.unlabeled_split = unlabeled_split

    def _split(self, split: str) -> TensorImages:
        from torchvision.datasets import STL10 as TV

        try:
            ds = TV(self.root, split=split, download=self.download)
        except RuntimeError as e:
            raise FileNotFoundError(
                f"STL-10 not found in {self.root} ({e}); set dataset.source.download=true "
                "(needs network, 2.6 GB) or dataset.source.root=<dir holding stl10_binary>."
            ) from e
        return TensorImages(torch.from_numpy(ds.data), ds.labels.astype(np.int64))  # (N, 3, 96, 96)

    def load(self) -> dict[str, TensorImages]:
        return {"train": self._split("train"), "test": self._split("test")}

    def unlabeled(self) -> TensorImages:
        return TensorImages(self._split(self.unlabeled_split).images)


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
            raise FileNotFoundError(
                f"image folder {folder} does not exist; set dataset.source.root=<dir>."
            )
        files = sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not files:
            raise FileNotFoundError(
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
            raise FileNotFoundError(
                f"labeled image folder {self.root} has no class subfolders; lay it out as "
                f"{self.root}/<class_name>/<image files>."
            )
        return classes

    def _labeled_folder(self, folder: Path) -> ImageFiles:
        paths, targets = [], []
        for i, name in enumerate(self.classes):
            if not (folder / name).is_dir():
                raise FileNotFoundError(
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
        _check_split(split)
        return self._train_test[split]
