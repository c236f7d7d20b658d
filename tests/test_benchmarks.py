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
