"""Sources read real data and give clear errors when it is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FASHION_ROOT, require_fashion_mnist

from pretrainkit.data.image.folder import ImageFolder
from pretrainkit.data.image.sources import CIFAR10, Digits, FashionMNIST


def test_digits_fixed_stratified_test_split():
    source = Digits()
    train, test = source.labeled("train"), source.labeled("test")
    assert len(train) + len(test) == 1797 and len(test) == 359  # 20% of each class, rounded
    image, target = train[0]
    assert image.dtype == torch.uint8 and image.shape == (1, 8, 8) and 0 <= target < 10
    assert np.bincount(test.targets).min() >= 35  # every digit is tested
    assert len(source.unlabeled()) == len(train)  # pretraining never sees test images
    assert np.array_equal(Digits().labeled("test").targets, test.targets)


def test_fashion_mnist_from_debian_idx_files():
    require_fashion_mnist()
    source = FashionMNIST(str(FASHION_ROOT))
    train, test = source.labeled("train"), source.labeled("test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape[1:] == (1, 28, 28)
    assert np.bincount(test.targets).tolist() == [1000] * 10


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist.*download=true"):
        FashionMNIST(str(tmp_path)).labeled("train")


def test_cifar10_without_download_says_how(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="download=true"):
        CIFAR10(str(tmp_path), download=False).labeled("train")


def test_image_folder_unlabeled_is_recursive(digits_folder: Path):
    pool = ImageFolder(str(digits_folder), mode="L").unlabeled()
    assert len(pool) == 600
    image, _ = pool[0]
    assert image.mode == "L" and image.size == (8, 8)


def test_image_folder_labeled_classes_and_holdout(digits_folder: Path):
    source = ImageFolder(str(digits_folder), test_fraction=0.2, mode="L")
    assert source.num_classes == 10 and source.classes[0] == "class_0"
    train, test = source.labeled("train"), source.labeled("test")
    assert (len(train), len(test)) == (480, 120)
    assert not set(train.paths) & set(test.paths)


def test_image_folder_empty_or_flat_is_a_clear_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        ImageFolder(str(tmp_path / "empty")).unlabeled()
    with pytest.raises(FileNotFoundError, match="no class subfolders"):
        ImageFolder(str(tmp_path / "empty")).labeled("train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(str(tmp_path / "nope")).unlabeled()
