"""Atomically written files get the mode a plain open() would: a shared results folder can
read them under umask 022, and nobody else can under 077."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.run.checkpoint_io import AtomicCheckpointIO
from pretrainkit.run.export import save_backbone
from pretrainkit.run.files import SPEC, WEIGHTS
from pretrainkit.run.io import atomic_write, umask, write_json


@pytest.fixture(params=[0o022, 0o077, 0o002])
def mask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_files_get_the_mode_the_umask_allows(tmp_path: Path, mask: int):
    assert umask() == mask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = tmp_path / "metrics.json"
    write_json(written, {"a": 1})
    atomic_write(tmp_path / "report.md", lambda tmp: Path(tmp).write_text("table"))
    AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(2)}, tmp_path / "last.ckpt")
    save_backbone(SmallCNN(in_chans=1, widths=[4]), tmp_path, {})
    for name in ("metrics.json", "report.md", "last.ckpt", WEIGHTS, SPEC):
        assert mode(tmp_path / name) == mode(plain) == 0o666 & ~mask, name
