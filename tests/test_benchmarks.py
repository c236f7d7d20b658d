"""benchmarks/throughput.py runs from a checkout and prints what RESULTS.md quotes (its figures
are timings: they belong to the benchmark, not to assertions here)."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers import REPO, cli_env


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
