"""pk-report reads run directories without importing torch, Lightning or Hydra: it starts in a
fraction of a second, not the seconds they take."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pretrainkit.run.files import METRICS, REPORT

HEAVY = ("torch", "lightning", "hydra", "omegaconf", "wandb")


def imported_after(code: str) -> list[str]:
    """The heavy packages in sys.modules after running `code` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_report_imports_neither_torch_nor_hydra():
    assert imported_after("import pretrainkit.report") == []


def test_a_whole_report_imports_neither_torch_nor_hydra(tmp_path: Path):
    run = {"method": "scratch-linear", "label_fraction": 0.1, "seed": 0, "test/acc": 0.5}
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / METRICS).write_text(json.dumps(run))
    code = f"from pretrainkit.report import main\nmain([{str(tmp_path)!r}, '--no-wandb'])"
    assert imported_after(code) == []
    assert (tmp_path / REPORT).is_file()
