"""The task contract: every pretext task trains and validates through `step(batch, stage)`, which
returns its loss and logs it, with its other terms, through `PretextTask.log_terms` under the
keys and flags the callbacks and the progress bar read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import make_cfg
from hydra.utils import get_class, instantiate

from pretrainkit.config import config_dir
from pretrainkit.tasks.base import PretextTask
from pretrainkit.tasks.language_model import LanguageModel

TASKS = sorted(p.stem for p in (Path(config_dir()) / "task").glob("*.yaml"))
SMALL = {  # narrower heads: the same code, less time building them
    "byol": ["task.proj_hidden_dim=64", "task.pred_hidden_dim=64"],
    "mocov3": ["task.proj_hidden_dim=64", "task.pred_hidden_dim=64"],
    "barlow": ["task.projector_dim=64"],
    "vicreg": ["task.expander_dim=64"],
    "dino": ["task.hidden_dim=64", "task.bottleneck_dim=32", "task.out_dim=64"],
}
# What each image task logs besides `stage/loss` (tests/tasks/test_<task>.py read them).
TERMS = {
    "simclr": [],
    "byol": [],
    "mocov3": [],
    "barlow": ["on_diag", "off_diag"],
    "vicreg": ["invariance", "variance", "covariance"],
    "rotation": ["rot_acc"],
    "denoising_ae": [],
    "mae": [],
    "ijepa": [],
    "dino": [],
}
TWO_VIEWS = {"simclr", "byol", "mocov3", "barlow", "vicreg"}
TABULAR = {"scarf", "vime", "simclr_audio", "audio_mae"}  # tables', recordings' (own test files)


def task_class(task: str) -> type:
    return get_class(make_cfg("pretrain", [f"task={task}"]).task._target_)


@pytest.mark.parametrize("task", TASKS)
def test_every_pretext_task_trains_and_validates_through_its_step(task: str):
    cls = task_class(task)
    assert issubclass(cls, PretextTask)
    assert cls.step is not PretextTask.step  # implemented
    assert cls.training_step is PretextTask.training_step  # not replaced
    assert cls.validation_step is PretextTask.validation_step


def test_every_image_task_is_covered_here():
    image = {t for t in TASKS if task_class(t).modality == "image"}
    assert image == TERMS.keys()  # a new task: say what it logs in TERMS
    others = {t for t in TASKS if issubclass(task_class(t), LanguageModel)} | TABULAR
    assert set(TASKS) == image | others  # tables: tests/tasks/test_tabular_tasks.py


class Recorder:
    """Stands in for `LightningModule.log` (which `log_dict` calls for each key)."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, value: torch.Tensor, **flags: Any) -> None:
        assert name not in self.calls, f"{name} logged twice"
        self.calls[name] = flags


@pytest.mark.parametrize("task", sorted(TERMS))
@pytest.mark.parametrize("stage", ["train", "val"])
def test_step_returns_the_loss_and_logs_it_with_its_terms(task: str, stage: str, tmp_path: Path):
    cfg = make_cfg("pretrain", [f"task={task}", *SMALL.get(task, [])], tmp_path)
    module = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    module.log = recorder = Recorder()  # no trainer to log to
    torch.manual_seed(0)
    images = torch.randn(4, 1, 8, 8)  # digits: 8x8 grayscale
    batch = [images, images.flip(-1)] if task in TWO_VIEWS else images
    if task == "dino":  # multi-crop: 2 global views, then local ones at 4x4
        batch = [images, images.flip(-1), images[..., :4, :4], images[..., 4:, 4:]]
    loss = module.step(batch, stage)
    assert loss.ndim == 0 and loss.requires_grad
    keys = [f"{stage}/{name}" for name in ["loss", *TERMS[task]]]
    assert list(recorder.calls) == keys
    on_bar = stage == "val"
    for key, flags in recorder.calls.items():
        shown = on_bar and (key.endswith("/loss") or task == "rotation")  # rot_acc: on the bar
        assert flags["prog_bar"] is shown, key
        assert flags["on_epoch"] is True and flags.get("on_step") is None, key  # steps in training
        assert flags["sync_dist"] is (stage == "val"), key
        assert flags["batch_size"] == 4, key
