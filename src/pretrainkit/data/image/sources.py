"""Where images come from. A source returns an unlabeled pool and labeled train/test splits;
the data modules decide what to do with them, so one source serves pretraining and fine-tuning.
Here the bundled datasets, held in memory; `folder.py` reads images on disk.
"""

from __future__ import annotations

import gzip
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from pretrainkit.data.image.datasets import ImageFiles, TensorImages
from pretrainkit.data.splits import check_split, stratified_split
from pretrainkit.errors import BadValueError, MissingFileError

IDX_FIX = (
    "reinstall it (`sudo apt-get install --reinstall dataset-fashion-mnist`), or delete it and "
    "set dataset.source.download=true."
)


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
        check_split(split)
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
        raise BadValueError(f"cannot read {path} ({err}); {IDX_FIX}") from err
    ndim = data[3] if len(data) > 3 and data[:3] == b"\x00\x00\x08" else 0
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(shape)) if ndim else None
    if expected != len(data):
        raise BadValueError(
            f"{path} is not a complete IDX file of uint8 ({len(data)} bytes, expected "
            f"{expected or 'an IDX header'}); {IDX_FIX}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class FashionMNIST(InMemorySource):
    """Fashion-MNIST (Xiao et al., 2017): 70,000 28x28 grayscale images, 10 classes.

    Read from IDX files in `root` (Debian's `dataset-fashion-mnist` puts them in
    /usr/share/datasets/fashion-mnist); with `download=True` torchvision fetches them instead.
    """

    # The fix the config checks give when `root` does not exist ({key}: the setting).
    missing_hint = (
        "install Debian's package (`sudo apt-get install dataset-fashion-mnist`, or `make data`), "
        "or set {key}=<dir> dataset.source.download=true to fetch it"
    )

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
                raise MissingFileError(
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
                raise MissingFileError(
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
            raise MissingFileError(
                f"STL-10 not found in {self.root} ({e}); set dataset.source.download=true "
                "(needs network, 2.6 GB) or dataset.source.root=<dir holding stl10_binary>."
            ) from e
        return TensorImages(torch.from_numpy(ds.data), ds.labels.astype(np.int64))  # (N, 3, 96, 96)

    def load(self) -> dict[str, TensorImages]:
        return {"train": self._split("train"), "test": self._split("test")}

    def unlabeled(self) -> TensorImages:
        return TensorImages(self._split(self.unlabeled_split).images)
