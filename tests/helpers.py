"""Test helpers: configs shrunk for a 2-core CPU, console scripts run as a user would."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from pretrainkit.config import config_dir

REPO = Path(__file__).resolve().parents[1]
CONF = Path(config_dir())
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


# Options of the config groups that need more than the defaults.
TEXT_DATASETS = {"fortunes", "text_files", "hf_disk"}
TEXT_TASKS = {"mlm", "clm"}
TABULAR_DATASETS = {"letter", "mlbench", "table_files"}
TABULAR_TASKS = {"scarf", "vime"}
AUDIO_DATASETS = {"asterisk", "audio_folder"}
AUDIO_TASKS = {"simclr_audio", "audio_mae"}
FINETUNE_ONLY = {"label_efficiency", "finetune_optuna"}  # experiments for pk-finetune


def options(group: str) -> list[str]:
    """The options of a config group: `conf/<group>/*.yaml`."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


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


def cli_env() -> dict[str, str]:
    """This environment for a script that is not a console script, minus the W&B service an
    in-process test may have started: a child would log through it (WANDB_SERVICE), so killing
    the child would leave its run open there, "in use", until pytest exits. (The console scripts
    drop it themselves: they run with this very environment.)"""
    return {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}


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


def wandb_records(run_dir: Path) -> Iterator[Any]:
    """The protobuf records of an offline W&B run, read from its `run-*.wandb` file (offline
    runs write no wandb-summary.json): a LevelDB-style log of records in 32 KiB blocks."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("run-*.wandb")
    data, pos, chunk = path.read_bytes(), 7, b""  # 7: the ":W&B" file header
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = chunk + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            yield pb.Record.FromString(chunk)
            chunk = b""


def wandb_history(run_dir: Path) -> Iterator[dict[str, object]]:
    """The history rows of an offline W&B run."""
    for record in wandb_records(run_dir):
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            yield {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}


def wandb_run_info(run_dir: Path) -> dict[str, Any]:
    """An offline W&B run's group, job type and tags (its last `run` record: tags set later
    are sent again)."""
    info: dict[str, Any] = {}
    for record in wandb_records(run_dir):
        if record.WhichOneof("record_type") == "run":
            run = record.run
            info = {"group": run.run_group, "job_type": run.job_type, "tags": list(run.tags)}
    return info
