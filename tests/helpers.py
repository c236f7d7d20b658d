"""Test helpers: configs shrunk for a 2-core CPU, console scripts run as a user would."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from pretrainkit.config import config_dir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")

# Small budgets for any run a test makes: a few batches of one epoch, no progress bar.
SHRINK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.accelerator=cpu",
]


def make_cfg(
    name: str, overrides: Sequence[str] = (), out: Path | None = None, shrink: bool = True
) -> DictConfig:
    """Compose `conf/<name>.yaml` with `overrides`, its outputs pointed at `out`."""
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose(name, overrides=[*(SHRINK if shrink else []), *overrides])
    method_given = any(o.startswith("callbacks.embedding.method") for o in overrides)
    if shrink and "embedding" in (cfg.get("callbacks") or {}) and not method_given:
        cfg.callbacks.embedding.method = "pca"  # t-SNE takes 10-30 s here, PCA milliseconds
    vit = str(cfg.backbone.get("name", "")).startswith("vit")
    if shrink and vit and "depth" not in cfg.backbone.model_kwargs:
        with open_dict(cfg):  # ViT-Tiny's 12 blocks cost seconds a batch here; 2 run the same code
            cfg.backbone.model_kwargs.depth = 2
    if out is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
    return cfg


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a console script of this venv, as a user would, from `cwd`."""
    exe = BIN / args[0]
    proc = subprocess.run(
        [str(exe), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def require_fashion_mnist() -> None:
    """Skip without Debian's Fashion-MNIST locally; in CI (which installs it) fail instead."""
    if not (FASHION_ROOT / "train-images-idx3-ubyte.gz").exists():
        if os.environ.get("CI"):
            pytest.fail("Fashion-MNIST is missing in CI: .ci/run should have run `make data`.")
        pytest.skip("Debian's dataset-fashion-mnist is not installed (make data)")


def logged(run_dir: Path, key: str) -> list[float]:
    """Every value of `key` in a run's CSV log (`logger=csv`), in order."""
    rows = csv.DictReader((run_dir / "csv/metrics.csv").read_text().splitlines())
    return [float(r[key]) for r in rows if r.get(key)]
