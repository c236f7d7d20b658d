"""Bad images get a clear error at setup, or a counted, logged skip (`on_bad_file`): corrupt and
undecodable images, mixed and tiny images, missing datasets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import make_cfg
from hydra.utils import instantiate
from PIL import Image
from torch.utils.data import DataLoader

from pretrainkit.data.image.datasets import ImageFiles, UnreadableImageError
from pretrainkit.data.image.folder import ImageFolder
from pretrainkit.data.image.sources import FashionMNIST

RNG = np.random.default_rng(0)


def save(path: Path, mode: str = "RGB", size: tuple[int, int] = (12, 10)) -> Path:
    """A real image file of random pixels in PIL `mode`, `size` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = RNG.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    Image.fromarray(pixels, "RGBA").convert(mode).save(path)
    return path


def truncated_png(path: Path) -> None:
    data = save(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def truncated_jpeg(path: Path) -> None:
    """Its header is whole (it passes the setup check), its pixels are cut: fails on decode."""
    data = save(path, size=(64, 64)).read_bytes()
    path.write_bytes(data[: int(len(data) * 0.8)])


BAD_IMAGES: dict[str, Callable[[Path], object]] = {
    "truncated.png": truncated_png,
    "random_bytes.jpg": lambda p: p.write_bytes(RNG.bytes(600)),
    "zero_bytes.png": lambda p: p.write_bytes(b""),
    "text.png": lambda p: p.write_text("not an image"),
}


def folder_with(root: Path, bad: str, n_good: int = 4) -> Path:
    for i in range(n_good):
        save(root / f"good_{i}.png")
    BAD_IMAGES[bad](root / bad)
    return root


def warnings_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelname == "WARNING"]


@pytest.mark.parametrize("bad", BAD_IMAGES)
def test_unreadable_image_is_an_error_naming_it_and_the_fix(tmp_path: Path, bad: str):
    root = folder_with(tmp_path, bad)
    with pytest.raises(UnreadableImageError, match=rf"1 of 5 .*{bad} .*on_bad_file=skip"):
        ImageFolder(str(root)).unlabeled()


@pytest.mark.parametrize("bad", BAD_IMAGES)
def test_unreadable_image_is_skipped_counted_and_logged(
    tmp_path: Path, bad: str, caplog: pytest.LogCaptureFixture
):
    root = folder_with(tmp_path, bad)
    with caplog.at_level(logging.WARNING):
        pool = ImageFolder(str(root), on_bad_file="skip").unlabeled()
    assert len(pool) == 4 and root / bad not in pool.paths
    [line] = warnings_from(caplog, "pretrainkit.data.image.folder")
    assert "skipped 1 of 5 image files" in line and bad in line


def test_skip_keeps_labels_with_their_images(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    for c in ("cat", "dog"):
        for i in range(5):
            save(tmp_path / c / f"{i}.png")
    for bad, write in BAD_IMAGES.items():
        write(tmp_path / "dog" / bad)
    with pytest.raises(UnreadableImageError, match="4 of 14 .*; and 1 more. .*on_bad_file=skip"):
        ImageFolder(str(tmp_path), test_fraction=0.4).labeled("train")
    with caplog.at_level(logging.WARNING):
        source = ImageFolder(str(tmp_path), test_fraction=0.4, on_bad_file="skip")
        train, test = source.labeled("train"), source.labeled("test")
    assert len(train) + len(test) == 10 and np.bincount(test.targets).tolist() == [2, 2]
    assert all(
        p.parent.name == source.classes[t] for p, t in zip(train.paths, train.targets, strict=True)
    )
    assert len(warnings_from(caplog, "pretrainkit.data.image.folder")) == 1


@pytest.mark.parametrize(
    ("layout", "call", "error", "message"),
    [
        ("empty", "unlabeled", FileNotFoundError, "no image files .* under"),
        ("empty", "labeled", FileNotFoundError, "no class subfolders"),
        ("missing", "unlabeled", FileNotFoundError, "does not exist; set dataset.source.root"),
        ("all_bad", "unlabeled", UnreadableImageError, "no readable images under .*text.png"),
        (
            "class_all_bad",
            "labeled",
            UnreadableImageError,
            "no readable images in class folder .*b: .*remove",
        ),
    ],
)
def test_nothing_readable_is_a_clear_error(
    tmp_path: Path, layout: str, call: str, error: type, message: str
):
    root = tmp_path / "images"
    if layout != "missing":
        root.mkdir()
    if layout == "all_bad":
        for bad, write in BAD_IMAGES.items():
            write(root / bad)
    if layout == "class_all_bad":
        save(root / "a" / "ok.png")
        (root / "b").mkdir()
        BAD_IMAGES["text.png"](root / "b" / "text.png")
    source = ImageFolder(str(root), on_bad_file="skip")
    with pytest.raises(error, match=message):
        source.unlabeled() if call == "unlabeled" else source.labeled("train")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_bad_file": "ignore"}, r"dataset.source.on_bad_file='ignore': expected error \| skip"),
        ({"mode": "RGBA"}, r"dataset.source.mode='RGBA': expected L or RGB"),
        ({"mode": 4}, r"dataset.source.mode=4: expected L or RGB \(or a channel count"),
    ],
)
def test_bad_image_options_are_refused_at_construction(tmp_path: Path, kwargs: dict, message):
    with pytest.raises(ValueError, match=message):
        ImageFolder(str(tmp_path), **kwargs)


def test_bad_image_fails_data_setup_and_the_yaml_override_skips_it(tmp_path: Path):
    root = folder_with(tmp_path / "images", "truncated.png", n_good=8)
    overrides = ["dataset=image_folder", f"dataset.source.root={root}", "monitor=none"]
    overrides += ["dataset.image_size=8", "data.batch_size=2"]
    dm = instantiate(make_cfg("pretrain", overrides, tmp_path).data)
    with pytest.raises(UnreadableImageError, match="truncated.png"):
        dm.setup("fit")  # before any training step, in the main process
    skip = [*overrides, "dataset.source.on_bad_file=skip"]
    dm = instantiate(make_cfg("pretrain", skip, tmp_path).data)
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set or []) == 8


MIXED = {
    "l.png": "L",
    "rgb.png": "RGB",
    "rgba.png": "RGBA",
    "p.png": "P",
    "la.png": "LA",
    "bw.png": "1",
    "cmyk.jpg": "CMYK",
    "gray.jpg": "L",
}


@pytest.mark.parametrize(("in_chans", "mode"), [(1, "L"), (3, "RGB")])
def test_mixed_modes_become_the_dataset_channel_count(tmp_path: Path, in_chans: int, mode: str):
    for name, pil_mode in MIXED.items():
        save(tmp_path / name, pil_mode)
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "i16.png")
    pool = ImageFolder(str(tmp_path), mode=in_chans).unlabeled()
    assert {pool[i][0].mode for i in range(len(pool))} == {mode}
    high_bit = np.asarray(pool[pool.paths.index(tmp_path / "i16.png")][0])
    assert (high_bit == 40000 >> 8).all()  # scaled to 8 bits, not clipped to white


def test_transparent_pixels_are_composited_onto_white(tmp_path: Path):
    pixels = np.zeros((2, 2, 4), np.uint8)  # black, fully transparent...
    pixels[0, 0] = [255, 0, 0, 255]  # ...but for one opaque red pixel
    Image.fromarray(pixels, "RGBA").save(tmp_path / "rgba.png")
    palette = Image.fromarray(pixels, "RGBA").convert("P")  # alpha dropped: index 0 is black
    palette.save(tmp_path / "p.png", transparency=0)  # ...and black is the transparent index
    for name in ("rgba.png", "p.png"):
        rgb = np.asarray(ImageFiles([tmp_path / name])[0][0])
        assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[1, 1].tolist() == [255, 255, 255]
        assert np.asarray(ImageFiles([tmp_path / name], mode="L")[0][0])[1, 1] == 255


IMAGE_TASKS = ["barlow", "byol", "denoising_ae", "mae", "rotation", "simclr", "vicreg"]
TINY = {"2x2.png": (2, 2), "1x1.png": (1, 1), "1x40.png": (1, 40), "40x3.png": (40, 3)}


def tiny_folder(root: Path) -> Path:
    for cls in ("a", "b"):
        for name, size in TINY.items():
            save(root / cls / name, "RGB" if cls == "a" else "L", size)
            save(root / cls / f"more_{name}", "RGBA", size)
    return root


@pytest.mark.parametrize("task", IMAGE_TASKS)
def test_tiny_images_go_through_every_pretraining_augmentation(tmp_path: Path, task: str):
    root = tiny_folder(tmp_path / "images")
    overrides = [f"task={task}", "dataset=image_folder", f"dataset.source.root={root}"]
    overrides += ["dataset.image_size=16", "dataset.patch_size=4", "monitor=none"]
    cfg = make_cfg("pretrain", [*overrides, "data.batch_size=4", "data.val_fraction=0"], tmp_path)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    batch = next(iter(DataLoader(dm.train_set, batch_size=len(dm.train_set))))
    views = batch if isinstance(batch, list) else [batch]
    assert all(v.shape == (len(dm.train_set), 3, 16, 16) for v in views)


@pytest.mark.parametrize("in_chans", [1, 3])
def test_tiny_mixed_images_go_through_fine_tuning_transforms(tmp_path: Path, in_chans: int):
    root = tiny_folder(tmp_path / "images")
    overrides = ["dataset=image_folder", f"dataset.source.root={root}", "dataset.image_size=16"]
    overrides += [f"dataset.in_chans={in_chans}", "dataset.source.test_fraction=0.25"]
    if in_chans == 1:
        overrides += ["dataset.mean=[0.5]", "dataset.std=[0.25]"]
    dm = instantiate(make_cfg("finetune", overrides, tmp_path).data)
    dm.setup("fit")
    for split in (dm.train_set, dm.val_set, dm.test_set):
        images, _ = next(iter(DataLoader(split, batch_size=len(split))))
        assert images.shape == (len(split), in_chans, 16, 16)  # one channel count per batch


def test_decode_failure_in_a_worker_is_a_clear_error(tmp_path: Path):
    for i in range(3):
        save(tmp_path / f"good_{i}.png")
    truncated_jpeg(tmp_path / "cut.jpg")
    pool = ImageFolder(str(tmp_path)).unlabeled()  # its header passes the setup check
    assert len(pool) == 4
    batches = iter(DataLoader(pool, batch_size=1, num_workers=2, collate_fn=len))
    with pytest.raises(
        UnreadableImageError, match=r"cannot decode image .*cut.jpg .*on_bad_file=skip"
    ):
        for _ in batches:
            pass
    # What the iterator's __del__ does: left to the garbage collector it waits 5 s a worker.
    batches._shutdown_workers()


def test_decode_failure_under_skip_substitutes_the_next_image(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    truncated_jpeg(tmp_path / "a_cut.jpg")
    save(tmp_path / "b.png")
    pool = ImageFolder(str(tmp_path), on_bad_file="skip").unlabeled()
    with caplog.at_level(logging.WARNING):
        images = [pool[i][0] for i in range(len(pool))] + [pool[0][0]]
    assert len(images) == 3 and all(image.size == (12, 10) for image in images)
    [line] = warnings_from(caplog, "pretrainkit.data.image.datasets")  # the file is tried once
    assert "a_cut.jpg" in line and "1 skipped in this process" in line


# --- missing Debian datasets ------------------------------------------------------------------


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path: Path):
    with pytest.raises(
        FileNotFoundError,
        match=r"not found in .*`sudo apt-get install dataset-fashion-mnist` .*download=true",
    ):
        FashionMNIST(str(tmp_path)).unlabeled()


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_fashion_mnist_file_is_named(tmp_path: Path, gz: bool):
    import gzip

    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (10, 28, 28))
    data = header + bytes(28 * 28 * 3)  # 3 of 10 images
    suffix = ".gz" if gz else ""
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / f"{stem}{suffix}").write_bytes(gzip.compress(data)[:-9] if gz else data)
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / stem).write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(10))
    message = (
        r"cannot read .*train-images-idx3-ubyte.gz \(.*\); reinstall"
        if gz
        else r"train-images-idx3-ubyte is not a complete IDX file of uint8 "
        r"\(2368 bytes, expected 7856\); reinstall"
    )
    with pytest.raises(ValueError, match=message):
        FashionMNIST(str(tmp_path)).labeled("train")
