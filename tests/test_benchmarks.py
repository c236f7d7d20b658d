"""benchmarks/throughput.py runs from a checkout and prints what RESULTS.md quotes (its figures
are timings: they belong to the benchmark, not to assertions here); gpu_check.sh's dry run
runs every step of the GPU check."""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BIN, REPO, cli_env


@pytest.mark.slow
def test_throughput_benchmark_runs_an_image_and_a_text_case():
    env = cli_env()
    out = subprocess.run(
        [sys.executable, "benchmarks/throughput.py", "--cases", "simclr:small_cnn:16",
         "mlm:bert_tiny:32", "--steps", "1", "--warmup", "1", "--batch", "8", "--workers", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "simclr / small_cnn / 16 px / batch 8 / cpu / fp32" in text
    for line in ("pretrainkit / reference:", "pretrainkit / plain loop:", "data / model:"):
        assert line in text
    assert re.search(r"reference \(0 workers\)\s+[\d.]+ img/s\s+peak\s+\d+ MB", text)
    assert re.search(r"mlm / bert_tiny / 32 / batch 8 .*\n.*pretrainkit\s+[\d.]+ seq/s", text)
    assert re.search(r"MFU: [\d.]+% in pretrainkit", text)  # the Transformer case


@pytest.mark.slow
def test_fast_paths_benchmark_times_each_switch_against_base():
    out = subprocess.run(
        [sys.executable, "benchmarks/fast_paths.py", "--case", "simclr:small_cnn:16",
         "--variants", "base,bf16,fused,defaults", "--batch", "8", "--rounds", "1",
         "--device", "cpu"],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = dict(re.findall(r"^  (\w+) .* (32-true|bf16-mixed)$", out.stdout, re.MULTILINE))
    # each variant ran with the precision its overrides ask for; defaults: fp32 on a CPU
    assert rows == {"base": "32-true", "bf16": "bf16-mixed", "fused": "32-true",
                    "defaults": "32-true"}  # fmt: skip
    assert re.search(r"^  base\s+[\d.]+\s+[\d.]+\s+1\.00x", out.stdout, re.MULTILINE)


def write_fashion_mnist(root: Path, n_train: int = 300, n_test: int = 100) -> None:
    """A stand-in Fashion-MNIST in Debian's layout (gzipped IDX files): 28x28 noise with a bright
    band in each class's own rows, so a probe has something to learn."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for k in range(10):
            images[labels == k, 2 * k + 4 : 2 * k + 8] += 150
        with gzip.open(root / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(root / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_step_and_gathers_every_figure(tmp_path: Path):
    """DRY_RUN=1 runs each of gpu_check.sh's steps in miniature on the CPU (a stand-in
    Fashion-MNIST), so the script a lent GPU machine runs as it is cannot rot here."""
    write_fashion_mnist(tmp_path / "fashion")
    out = tmp_path / "out"
    env = cli_env() | {
        "DRY_RUN": "1",
        "SKIP_WHEELS": "1",  # a checkout's .whl/ is for the GPU machine's Python
        "FASHION_ROOT": str(tmp_path / "fashion"),
        "PYTHON": sys.executable,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # this venv's pk-* and python3
        "TAIL": "0",
    }
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    steps = ["env", "throughput", "e2e", "fast_paths", "tests"]
    assert {p.name for p in out.iterdir()} == {
        *(f"{s}.txt" for s in steps),
        "summary.json",
        "figures.md",
    }  # 7 files: a lent machine sends back at most 8
    summary = json.loads((out / "summary.json").read_text())
    assert {name: r["rc"] for name, r in summary["steps"].items()} == dict.fromkeys(steps, 0)
    assert summary["dry_run"] and summary["env"]["torch"] and summary["env"]["cuda"] is False
    (case,) = summary["throughput"]
    assert case["case"] == "simclr:small_cnn:16" and case["pretrainkit"] > 0
    assert {"plain", "reference", "vs_reference", "lightning_overhead", "mfu"} <= set(case)
    variants = summary["fast_paths"]["variants"]
    assert set(variants) == {"base", "defaults"} and variants["base"]["vs_base"] == 1.0
    e2e = summary["e2e"]
    assert set(e2e["seconds"]) == {"pretrain", "finetune", "report"}
    assert e2e["precision"] == "32-true" and len(e2e["knn_acc"]) == 2  # one per epoch
    probes = sorted((r["method"], r["label_fraction"]) for r in e2e["linear"])
    assert probes == [("scratch-linear", 0.1), ("scratch-linear", 1.0),
                      ("simclr-linear", 0.1), ("simclr-linear", 1.0)]  # fmt: skip
    assert all(0 <= r["test_acc"] <= 1 and r["dataset"] == "fashion_mnist" for r in e2e["linear"])
    figures = (out / "figures.md").read_text()
    assert "## throughput" in figures and "val/knn_acc by epoch" in figures
