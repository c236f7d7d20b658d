"""No training step makes the host wait for the accelerator.

Reading a device tensor's value on the host (`.item()`, `float(t)`, `if t:`, `.tolist()`,
`.cpu()`), a shape that depends on its values (boolean-mask indexing, `nonzero`, `unique`) or
a blocking copy of host data to the device (`torch.tensor(x, device=...)`) waits until every
queued kernel has run, so the next ones are not queued ahead. On a CPU these cost nothing, so
this test counts the calls themselves: every pretext task and the fine-tuning classifier train
a few steps on a CPU, through the entry points with the progress bar on and
`trainer.log_every_n_steps` beyond the run, and nothing may make such a call between a step's
`on_train_batch_start` and the end of Lightning's bookkeeping for it. (Logging steps and epoch
ends read values on purpose; they are never inside the window.)
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from helpers import make_cfg

import pretrainkit.finetune
import pretrainkit.pretrain
from pretrainkit.run.steps import build_trainer

STEPS = 2
QUIET = [  # a run of STEPS steps, nothing logged, the progress bar on, nothing written
    f"trainer.limit_train_batches={STEPS}",
    "trainer.log_every_n_steps=1000",
    "trainer.enable_progress_bar=true",
    "callbacks.finite_loss.every_n_steps=1000",  # as on a GPU: checked on logging steps only
    "logger=none",
    "data.batch_size=4",
]
READS = ["item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy"]
SHAPES = ["nonzero", "unique", "masked_select"]
# The step counter of torch's non-fused optimizers is a CPU tensor by design (it is on the
# device only with `capturable` or `fused`): reading it waits for nothing.
ALLOWED = [("torch/optim/optimizer.py", "_get_value")]


class Window(L.Callback):
    """Open from `on_train_batch_start` of a step Lightning does not log to the end of its
    `update_train_step_metrics` (after `on_train_batch_end`, the progress bar, and Lightning's
    conversion of progress-bar metrics), where the step's work ends; counts the steps."""

    def __init__(self) -> None:
        self.open, self.steps = False, 0
        self.calls: list[tuple[str, str]] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        connector = trainer._logger_connector
        update = connector.update_train_step_metrics

        def update_then_close() -> None:
            update()
            self.open = False

        connector.update_train_step_metrics = update_then_close  # type: ignore[method-assign]

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if not trainer._logger_connector.should_update_logs:
            self.open, self.steps = True, self.steps + 1

    def record(self, what: str) -> None:
        stack = [
            f
            for f in traceback.extract_stack()
            if f.filename != __file__ or f.name not in ("record", "patched", "<lambda>")
        ]
        caller = stack[-1]
        if any(caller.filename.endswith(file) and caller.name == fn for file, fn in ALLOWED):
            return
        near = next(f for f in reversed(stack) if "/site-packages/" not in f.filename)
        self.calls.append((what, f"{near.filename}:{near.lineno} -> {caller.name}"))


def counting(window: Window, what: str, original: Callable) -> Callable:
    def patched(*args: Any, **kwargs: Any) -> Any:
        if window.open:
            window.open = False  # nothing the recording does is counted
            try:
                window.record(what)
            finally:
                window.open = True
        return original(*args, **kwargs)

    return patched


def is_mask_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


def is_device_copy(device: Any) -> bool:
    """Whether `torch.tensor(data, device=device)` copies host data to the training device: a
    device taken from a module or tensor would (on a GPU, a copy the host waits for); the
    string "cpu" is a deliberate host tensor (torch's optimizers keep their step count so)."""
    return device is not None and device != "cpu"


def watch(window: Window, monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch every host read, data-dependent shape and host-to-device copy to tell `window`."""
    for name in READS + SHAPES:
        monkeypatch.setattr(torch.Tensor, name, counting(window, name, getattr(torch.Tensor, name)))
    for name in SHAPES:
        monkeypatch.setattr(torch, name, counting(window, f"torch.{name}", getattr(torch, name)))
    for name in ("__getitem__", "__setitem__"):
        original = getattr(torch.Tensor, name)
        by_mask = counting(window, f"boolean-mask {name}", original)
        monkeypatch.setattr(
            torch.Tensor,
            name,
            lambda t, i, *v, by_mask=by_mask, original=original: (
                by_mask if is_mask_index(i) else original
            )(t, i, *v),
        )
    for name in ("tensor", "as_tensor"):
        original = getattr(torch, name)
        copy = counting(window, f"torch.{name}(..., device=)", original)
        monkeypatch.setattr(
            torch,
            name,
            lambda *a, copy=copy, original=original, **k: (
                copy if is_device_copy(k.get("device")) else original
            )(*a, **k),
        )


@pytest.fixture
def window(monkeypatch: pytest.MonkeyPatch) -> Iterator[Window]:
    """A Window added to the trainer of every run the entry points make, watching the calls."""
    window = Window()

    def build_with_window(cfg: Any, loggers: list) -> L.Trainer:
        trainer = build_trainer(cfg, loggers)
        trainer.callbacks.append(window)  # type: ignore[attr-defined]
        return trainer

    monkeypatch.setattr(pretrainkit.pretrain, "build_trainer", build_with_window)
    monkeypatch.setattr(pretrainkit.finetune, "build_trainer", build_with_window)
    watch(window, monkeypatch)
    threads = torch.get_num_threads()
    # One thread: on a busy 2-core machine OpenMP's barriers stall (a 2-step MAE run took
    # 7.4 s with two threads at load 5, 0.6 s with one); what is counted does not change.
    torch.set_num_threads(1)
    yield window
    torch.set_num_threads(threads)


SMALL = {  # narrower heads: the same code, less time building them
    "byol": ["task.proj_hidden_dim=64", "task.pred_hidden_dim=64"],
    "barlow": ["task.projector_dim=64"],
    "vicreg": ["task.expander_dim=64"],
    "mlm": ["task.head_positions=all", "backbone.config.num_hidden_layers=1"],
    "clm": ["backbone.config.n_layer=1"],
}


@pytest.mark.parametrize(
    "task", ["simclr", "byol", "barlow", "vicreg", "rotation", "denoising_ae", "mae", "mlm", "clm"]
)
def test_pretraining_steps_never_wait_for_the_device(task: str, window: Window, tmp_path: Path):
    if task in ("mlm", "clm") and not Path("/usr/share/games/fortunes/computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")
    overrides = [f"task={task}", "monitor=none", "~callbacks.export", *QUIET, *SMALL.get(task, [])]
    pretrainkit.pretrain.pretrain(make_cfg("pretrain", overrides, tmp_path))
    assert window.steps == STEPS  # the window was open on every step
    assert window.calls == []


def test_mlm_with_the_head_on_masked_tokens_waits_only_to_select_them(
    window: Window, tmp_path: Path
):
    """task.head_positions=masked (the default) reads how many tokens were chosen, by
    boolean indexing, and nothing else: the one documented sync, for a sixth of the head's work."""
    if not Path("/usr/share/games/fortunes/computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")
    overrides = ["task=mlm", "backbone.config.num_hidden_layers=1", "~callbacks.export", *QUIET]
    pretrainkit.pretrain.pretrain(make_cfg("pretrain", overrides, tmp_path))
    lines = [where.rsplit("/", 1)[-1] for _, where in window.calls]
    assert {what for what, _ in window.calls} == {"boolean-mask __getitem__"}
    assert len(lines) == 2 * STEPS and all(line.startswith("mlm.py:") for line in lines)


def test_finetuning_steps_never_wait_for_the_device(window: Window, tmp_path: Path):
    pretrainkit.finetune.finetune(make_cfg("finetune", ["freeze_backbone=false", *QUIET], tmp_path))
    assert window.steps == STEPS
    assert window.calls == []


def test_the_window_sees_a_read_of_the_loss(window: Window, tmp_path: Path, monkeypatch):
    """The test can fail: a task that reads its loss on the host each step is caught."""
    from pretrainkit.tasks.rotation import Rotation

    step = Rotation.step

    def step_that_reads(self: Rotation, x: torch.Tensor, stage: str) -> torch.Tensor:
        loss = step(self, x, stage)
        float(loss)  # e.g. to print it
        return loss

    monkeypatch.setattr(Rotation, "step", step_that_reads)
    overrides = ["task=rotation", "monitor=none", *QUIET]
    pretrainkit.pretrain.pretrain(make_cfg("pretrain", overrides, tmp_path))
    assert [what for what, _ in window.calls] == ["__float__"] * STEPS
