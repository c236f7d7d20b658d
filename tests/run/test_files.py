"""The run directory's names: the checkpoint callbacks in conf/ write where `run.files` says
resume and pk-report look, and the module stays free of heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_cfg

from pretrainkit.run import files

CHECKPOINT = "lightning.pytorch.callbacks.ModelCheckpoint"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pretrain", {files.LAST_CKPT, files.STEP_CKPT}),
        ("finetune", {files.LAST_CKPT, files.STEP_CKPT, files.BEST_CKPT}),
    ],
)
def test_checkpoint_callbacks_write_the_names_resume_reads(
    name: str, expected: set[str], tmp_path: Path
):
    cfg = make_cfg(name, out=tmp_path)
    saves = [c for c in cfg.callbacks.values() if c and c.get("_target_") == CHECKPOINT]
    assert {Path(c.dirpath) for c in saves} == {tmp_path / files.CHECKPOINTS}
    assert {f"{c.filename}.ckpt" for c in saves} == expected


def test_pretraining_exports_into_the_run_directory(tmp_path: Path):
    cfg = make_cfg("pretrain", out=tmp_path)
    assert Path(cfg.callbacks.export.dirpath) == tmp_path  # where WEIGHTS and SPEC are looked for


def test_run_names_import_nothing_heavy():
    code = (
        "import sys, pretrainkit.run.files; "
        "print(sorted(m for m in ('torch', 'lightning', 'hydra', 'omegaconf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
