"""Checkpoints are written atomically: a kill during a save leaves the previous one intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pretrainkit.run.checkpoint_io import AtomicCheckpointIO

# Saves checkpoints of ~16 MB in a loop, each holding one value throughout, until killed.
WRITER = """
import sys, torch
from pretrainkit.run.checkpoint_io import AtomicCheckpointIO
io, path, i = AtomicCheckpointIO(), sys.argv[1], 0
while True:
    io.save_checkpoint({"step": i, "w": torch.full((4_000_000,), float(i))}, path)
    print(i, flush=True)
    i += 1
"""


def test_sigkill_during_saves_leaves_a_whole_checkpoint(tmp_path: Path):
    path = tmp_path / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for _ in range(3):  # some saves done, one most likely under way
            proc.stdout.readline()
        time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    ckpt = AtomicCheckpointIO().load_checkpoint(path)
    assert ckpt["step"] >= 2 and torch.all(ckpt["w"] == ckpt["step"])


def test_a_failing_save_keeps_the_previous_checkpoint_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)

    def half_written(obj: object, f) -> None:  # what a kill mid-write leaves
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_the_trainer_saves_through_it(tmp_path: Path):
    from hydra.utils import instantiate

    from tests.helpers import make_cfg

    trainer = instantiate(make_cfg("pretrain", out=tmp_path).trainer, logger=False)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
