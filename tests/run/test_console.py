"""Quiet runs: the terminal gets a run's own lines and real warnings; the run's log file
(Hydra's job log, configured in conf/hydra/default.yaml) gets everything."""

from __future__ import annotations

import io
import logging
import logging.config
import math
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CONF
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from omegaconf import OmegaConf

from pretrainkit.run import console
from pretrainkit.run.sweeps import SweepEnd, job_line, live_terminal, sweep_plan

# What the listed warnings say, as Lightning 2.6 words them.
SAMPLES = [
    "/x/lightning/pytorch/utilities/_pytree.py:21: `isinstance(treespec, LeafSpec)` is "
    "deprecated, use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead.",
    '`.test(ckpt_path="best")` is called with Trainer configured with multiple '
    "`ModelCheckpoint` callbacks. It will use the best checkpoint path from first checkpoint "
    "callback.",
]


def test_every_harmless_warning_has_its_reason_and_a_known_message():
    assert len(console.HARMLESS) == len(SAMPLES)
    for entry, sample in zip(console.HARMLESS, SAMPLES, strict=True):
        assert len(entry.why) > 40 and re.search(entry.pattern, sample)
    assert not console.harmless("HealthMonitor, epoch 3: the features have collapsed")


@pytest.fixture
def job_logging(tmp_path: Path) -> Iterator[Any]:
    """conf/hydra/default.yaml's job logging, the console into a buffer; logging restored after."""
    root, lightning = logging.getLogger(), logging.getLogger("lightning.pytorch")
    saved = (root.handlers[:], root.level, lightning.handlers[:], lightning.propagate)

    def configure(verbose: bool) -> io.StringIO:
        hydra = OmegaConf.load(CONF / "hydra" / "default.yaml")
        conf = OmegaConf.to_container(hydra.job_logging)
        conf["filters"]["terminal"]["verbose"] = verbose
        conf["handlers"]["file"]["filename"] = str(tmp_path / "finetune.log")
        logging.config.dictConfig(conf)
        terminal = io.StringIO()
        next(h for h in root.handlers if h.name == "console").setStream(terminal)
        return terminal

    with warnings.catch_warnings():  # restores showwarning, which captureWarnings replaces
        warnings.simplefilter("always")
        yield configure
        logging.captureWarnings(False)
    for handler in root.handlers:
        handler.close()
    root.handlers[:], lightning.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    lightning.propagate = saved[3]


def emit() -> None:
    """What a run says: Lightning's chatter, its own line, harmless and real warnings."""
    rank_zero_info("GPU available: False, used: False")
    console.terminal.info("finetune: linear probe of x on digits, 1% of the labels")
    warnings.warn(SAMPLES[0], DeprecationWarning, stacklevel=1)
    rank_zero_warn("HealthMonitor, epoch 3: the features have collapsed (rank 1.0 of 128)")
    logging.getLogger("pretrainkit.data.image.folder").warning("skipped 2 unreadable images")


def test_terminal_gets_own_lines_and_real_warnings_the_log_file_everything(
    job_logging: Any, tmp_path: Path
):
    terminal = job_logging(verbose=False)
    emit()
    shown = terminal.getvalue().splitlines()
    assert shown[0] == "finetune: linear probe of x on digits, 1% of the labels"
    assert "HealthMonitor, epoch 3: the features have collapsed" in shown[1]
    assert shown[2] == "warning: skipped 2 unreadable images"
    assert len(shown) == 3  # no GPU banner, no LeafSpec deprecation
    kept = (tmp_path / "finetune.log").read_text()
    for text in ("GPU available", "finetune: linear probe", "LeafSpec", "HealthMonitor", "skipped"):
        assert text in kept


def test_verbose_shows_everything(job_logging: Any):
    terminal = job_logging(verbose=True)
    emit()
    shown = terminal.getvalue()
    assert "GPU available" in shown and "LeafSpec" in shown and "HealthMonitor" in shown


def sweep_config(tmp_path: Path, num: int, overrides: list[str]) -> Any:
    return OmegaConf.create(
        {
            "optimized_metric": "val/acc_best",
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "job": {"num": num},
                "runtime": {"output_dir": str(tmp_path / str(num))},
                "sweeper": {
                    "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": {"seed": "0,1,2"},
                },
                "overrides": {"task": overrides},
            },
        }
    )


def test_a_job_line_names_the_swept_overrides_the_metric_and_the_time(tmp_path: Path):
    launched = sweep_config(tmp_path, 0, ["experiment=demo", "finetune_mode=linear,finetune"])
    swept, jobs = sweep_plan(launched)
    assert swept == {"seed", "finetune_mode"} and jobs == 6
    long = "pretrained=outputs/demo/runs/2026-11-30_19-00-00/pretrain"
    job = sweep_config(tmp_path, 4, ["experiment=demo", "finetune_mode=finetune", long, "seed=1"])
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "metrics.json").write_text('{"test/acc": 0.8123}')
    done = JobReturn(_return_value=0.85, status=JobStatus.COMPLETED)
    swept.add("pretrained")
    line = job_line(job, done, swept, 12.3)
    assert (
        line
        == "finetune_mode=finetune pretrained=…/pretrain seed=1: val/acc_best 0.85, test/acc 0.8123 (12 s)"
    )
    (tmp_path / "4" / "error.json").write_text('{"error": "ValueError: bad"}')
    nan = JobReturn(_return_value=math.nan, status=JobStatus.COMPLETED)
    assert job_line(job, nan, swept, 1).endswith(": failed: ValueError: bad (1 s)")
    skipped = sweep_config(tmp_path, 5, ["finetune_mode=lp_ft"])
    assert (
        job_line(skipped, JobReturn(_return_value=None, status=JobStatus.COMPLETED), swept, 0)
        is None
    )


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_job_lines_rewrite_one_line(tmp_path: Path, monkeypatch, caplog):
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", screen)
    end = SweepEnd(report=False)
    launched = sweep_config(tmp_path, 0, ["seed=0,1"])
    launched.hydra.launcher = {
        "_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    }
    launched.hydra.sweep = {"dir": str(tmp_path)}
    end.on_multirun_start(launched)
    for num in (0, 1):
        job = sweep_config(tmp_path, num, [f"seed={num}"])
        job.hydra.launcher = launched.hydra.launcher
        (tmp_path / str(num)).mkdir()
        (tmp_path / str(num) / "metrics.json").write_text('{"test/acc": 0.5}')
        with caplog.at_level(logging.INFO):
            end.on_job_end(job, JobReturn(_return_value=0.9, status=JobStatus.COMPLETED))
    end.on_multirun_end(launched)
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one terminal row, ended at the end
    assert text.count("\r\x1b[K[") == 2 and "[2/2] seed=1" in text
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")] == [
        "[1/2] seed=0: val/acc_best 0.9, test/acc 0.5 (0 s)",
        "[2/2] seed=1: val/acc_best 0.9, test/acc 0.5 (0 s)",
    ]  # the log keeps every job's line
    assert not live_terminal(OmegaConf.merge(launched, {"verbose": True}))
