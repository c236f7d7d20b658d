"""A run killed with SIGKILL mid-epoch and resumed ends with the weights of an uninterrupted run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import BIN, make_cfg, run_cli
from omegaconf import open_dict

from pretrainkit.pretrain import pretrain
from pretrainkit.run.resume import ResumeError, check_resumable, last_checkpoint, resume_checkpoint

# 21 SimCLR steps an epoch on digits at batch 64; a checkpoints/step.ckpt every 4 steps.
RECIPE = [
    "trainer.max_epochs=2",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=5",
    "data.batch_size=64",
    "data.num_workers=2",  # worker processes: augmentations must not depend on which one ran
    "monitor=none",
    "callbacks.step_checkpoint.every_n_train_steps=4",
]


def _state(ckpt: Path) -> dict:
    return torch.load(ckpt, map_location="cpu", weights_only=False)


def _wait_for_mid_epoch_checkpoint(proc: subprocess.Popen, ckpts: Path, timeout: float) -> None:
    """Until a step checkpoint newer than the first epoch's end exists (step 24)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        last, step = ckpts / "last.ckpt", ckpts / "step.ckpt"
        if last.exists() and step.exists() and step.stat().st_mtime_ns > last.stat().st_mtime_ns:
            return
        assert proc.poll() is None, f"the run exited ({proc.returncode}) before a mid-epoch save"
        time.sleep(0.02)
    raise TimeoutError("no mid-epoch checkpoint appeared")


def _kill_mid_epoch(overrides: list[str], run_dir: Path, timeout: float) -> None:
    """Start `pk-pretrain` in `run_dir` and SIGKILL it, as a scheduler kills a job (its whole
    process group: DDP ranks, loader workers), right after its first mid-epoch checkpoint."""
    proc = subprocess.Popen(
        [str(BIN / "pk-pretrain"), *overrides, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=(run_dir.parent / f"{run_dir.name}.log").open("w"),
        start_new_session=True,
    )
    try:
        _wait_for_mid_epoch_checkpoint(proc, run_dir / "checkpoints", timeout)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_uninterrupted_weights(tmp_path: Path):
    import wandb

    # launched from a Python process that uses W&B: its children inherit WANDB_SERVICE, which
    # the console scripts drop (sharing it, the killed run stayed "in use" there)
    wandb.setup().ensure_service()
    assert os.environ.get("WANDB_SERVICE")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run_cli("pk-pretrain", *RECIPE, f"hydra.run.dir={whole}", cwd=tmp_path)

    _kill_mid_epoch(RECIPE, killed, timeout=120)
    saved = _state(last_checkpoint(killed))  # type: ignore[arg-type]
    assert 21 < saved["global_step"] < 42, "the kill must land mid-way through the second epoch"
    config = (killed / ".hydra" / "config.yaml").read_bytes()

    # its own config comes back; a plain override may be added on top
    run_cli("pk-pretrain", f"resume={killed}", "trainer.log_every_n_steps=7", cwd=tmp_path)

    a, b = _state(whole / "checkpoints" / "last.ckpt"), _state(killed / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 42
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key  # bitwise
    moments = [
        (s["exp_avg"], b["optimizer_states"][0]["state"][i]["exp_avg"])
        for i, s in a["optimizer_states"][0]["state"].items()
        if "exp_avg" in s
    ]
    assert all(torch.equal(x, y) for x, y in moments)
    assert a["lr_schedulers"] == b["lr_schedulers"]
    # the original config is kept, this launch's beside it; one W&B run id across both launches
    assert (killed / ".hydra" / "config.yaml").read_bytes() == config
    assert len(list((killed / ".hydra").glob("resumed-*/config.yaml"))) == 1
    ids = {p.name.rsplit("-", 1)[1] for p in (killed / "wandb").glob("offline-run-*")}
    assert len(ids) == 1 and len(list((killed / "wandb").glob("offline-run-*"))) == 2
    assert hashlib.sha256((killed / "backbone.safetensors").read_bytes()).hexdigest() == (
        hashlib.sha256((whole / "backbone.safetensors").read_bytes()).hexdigest()
    )


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_resume_refuses_finished_and_checkpointless_runs(tmp_path: Path):
    with pytest.raises(ResumeError, match="no such run directory"):
        check_resumable(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResumeError, match="no checkpoints/last.ckpt"):
        check_resumable(empty)
    done = tmp_path / "done"
    _touch(done / "checkpoints" / "last.ckpt")
    _touch(done / "backbone.safetensors")
    with pytest.raises(ResumeError, match=r"finished .*ckpt_path=.*last.ckpt trainer.max_epochs"):
        check_resumable(done)


def test_auto_resume_takes_the_newest_checkpoint_of_an_unfinished_run(tmp_path: Path):
    cfg = make_cfg("pretrain", out=tmp_path)
    assert resume_checkpoint(cfg, tmp_path) is None  # a fresh directory
    last = _touch(tmp_path / "checkpoints" / "last.ckpt")
    step = _touch(tmp_path / "checkpoints" / "step.ckpt")
    os.utime(last, ns=(1, 1))
    assert resume_checkpoint(cfg, tmp_path) == step
    hpc = _touch(tmp_path / "hpc_ckpt_1.ckpt")  # Lightning's SLURM requeue checkpoint
    assert resume_checkpoint(cfg, tmp_path) in (hpc, step) and last_checkpoint(tmp_path) != last
    cfg.auto_resume = False
    assert resume_checkpoint(cfg, tmp_path) is None
    cfg.auto_resume = True
    _touch(tmp_path / "metrics.json")  # finished: never resumed into
    assert resume_checkpoint(cfg, tmp_path) is None


class Killed(Exception):
    """Stands in for a kill: unlike KeyboardInterrupt, Lightning lets it end `fit`."""


class KillAtStep(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


@pytest.mark.parametrize(
    "task, extra",
    [
        pytest.param("byol", [], marks=pytest.mark.slow),  # an EMA target network
        pytest.param(
            "mae", [], marks=pytest.mark.slow
        ),  # random masks drawn in the training process
        ("simclr", ["data.augment_on=gpu"]),  # views made after the transfer, seeded per batch
    ],
)
def test_interrupted_run_auto_resumes_in_its_directory_to_the_same_weights(
    task: str, extra: list[str], tmp_path: Path
):
    overrides = [
        f"task={task}",
        *extra,
        *(["backbone=vit_tiny"] if task == "mae" else []),
        "logger=csv",
        "monitor=none",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=5",
        "trainer.deterministic=true",
        "data.batch_size=32",
        "callbacks.step_checkpoint.every_n_train_steps=2",
    ]
    whole = make_cfg("pretrain", overrides, tmp_path / "whole")
    pretrain(whole)
    cut = make_cfg("pretrain", overrides, tmp_path / "cut")
    with open_dict(cut):
        cut.callbacks.kill = {"_target_": f"{__name__}.KillAtStep", "step": 7}
    with pytest.raises(Killed):
        pretrain(cut)
    assert _state(last_checkpoint(tmp_path / "cut"))["global_step"] == 6  # type: ignore[arg-type]
    del cut.callbacks.kill
    pretrain(cut)  # the same directory again: auto_resume continues from step.ckpt

    csv = tmp_path / "cut" / "csv"  # the first launch's metrics kept, the second's beside them
    assert (csv / "metrics.csv").is_file() and (csv / "resumed-1" / "metrics.csv").is_file()
    a = _state(tmp_path / "whole" / "checkpoints" / "last.ckpt")
    b = _state(tmp_path / "cut" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 10
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


@pytest.mark.slow
@pytest.mark.parametrize("augment_on", ["cpu", "gpu"])
def test_ddp_sigkilled_run_resumes_to_the_uninterrupted_weights(tmp_path: Path, augment_on: str):
    """2 gloo processes: every rank resumes its own shard of the epoch at the right batch (and,
    with batched views, each rank's views are seeded from its own items)."""
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "logger=csv"]
    ddp += [o for o in RECIPE if not o.startswith("data.num_workers")]
    ddp += [f"data.augment_on={augment_on}"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run_cli("pk-pretrain", *ddp, f"hydra.run.dir={whole}", cwd=tmp_path, timeout=600)

    _kill_mid_epoch(ddp, killed, timeout=300)
    steps = _state(last_checkpoint(killed))["global_step"]  # type: ignore[arg-type]
    run_cli("pk-pretrain", f"resume={killed}", cwd=tmp_path, timeout=600)

    a, b = _state(whole / "checkpoints" / "last.ckpt"), _state(killed / "checkpoints" / "last.ckpt")
    assert 10 < steps < a["global_step"] == b["global_step"]
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
