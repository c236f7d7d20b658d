"""The configs ship inside the wheel and are found there; the Makefile has what the README says."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO


@pytest.mark.slow
def test_wheel_carries_configs_and_finds_them(tmp_path: Path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("pretrainkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert (
        "pretrainkit/conf/pretrain.yaml" in names and "pretrainkit/conf/task/simclr.yaml" in names
    )

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "from pretrainkit.config import config_dir; print(config_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(site / "pretrainkit" / "conf")
    job = subprocess.run(
        [sys.executable, "-m", "pretrainkit.finetune", "--cfg", "job", "dataset=fashion_mnist"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "name: fashion_mnist" in job.stdout
