"""Stand-ins for a trainer and a task, so a monitor callback can run without training."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from pretrainkit.data.image.monitor import MonitorFeatures


def _blobs(
    n: int, dim: int, num_classes: int, spread: float = 0.3, seed: int = 0
) -> MonitorFeatures:
    """Gaussian clusters around random centres: linearly separable for a small `spread`."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=g)
    labels = torch.arange(n) % num_classes
    x = centres[labels] + spread * torch.randn(n, dim, generator=g)  # (n, dim)
    cut = n * 4 // 5
    classes = [str(c) for c in range(num_classes)]
    return MonitorFeatures(x[:cut], labels[:cut], x[cut:], labels[cut:], classes)


class FakeMonitor:
    """A monitor set whose features are given."""

    def __init__(self, features: MonitorFeatures, labeled: bool = True) -> None:
        self._features, self.labeled = features, labeled

    def features(self, backbone: Any, device: torch.device, key: Any) -> MonitorFeatures:
        return self._features


class FakeTask:
    """What a monitor callback uses of a task: a backbone, a device, and `log`."""

    name = "fake"

    def __init__(self) -> None:
        self.backbone, self.device = torch.nn.Identity(), torch.device("cpu")
        self.logged: dict[str, float] = {}

    def log(self, key: str, value: Any, **kwargs: Any) -> None:
        self.logged[key] = float(value)

    def log_dict(self, values: dict[str, Any], **kwargs: Any) -> None:
        for key, value in values.items():
            self.log(key, value)


@pytest.fixture
def fake_run() -> Callable[..., tuple[SimpleNamespace, FakeTask]]:
    """(trainer, task) around `monitor`: given features, a real MonitorSet, or None."""

    def make(
        monitor: Any, labeled: bool = True, loggers: list | None = None
    ) -> tuple[SimpleNamespace, FakeTask]:
        if isinstance(monitor, MonitorFeatures):
            monitor = FakeMonitor(monitor, labeled)
        trainer = SimpleNamespace(
            current_epoch=0,
            global_step=0,
            is_global_zero=True,
            loggers=loggers or [],
            datamodule=SimpleNamespace(monitor=monitor),
        )
        return trainer, FakeTask()

    return make


@pytest.fixture
def blobs() -> Callable[..., MonitorFeatures]:
    """Monitor features of `n` points in `dim` dimensions, in `num_classes` clusters."""
    return _blobs
