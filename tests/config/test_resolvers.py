"""The `pk.*` resolvers: trainer.precision's default follows the hardware the run trains on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import make_cfg

from pretrainkit.config import precision
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate

# (CUDA present, native bf16 (Ampere+), emulated bf16 (older GPUs))
AMPERE, TURING, NO_GPU = (True, True, True), (True, False, True), (False, False, False)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch):
    """Make torch see a GPU of a given kind: `gpu(AMPERE)`."""

    def install(kind: tuple[bool, bool, bool]) -> None:
        cuda, native, emulated = kind
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(
            torch.cuda,
            "is_bf16_supported",
            lambda including_emulation=True: native or (including_emulation and emulated),
        )

    return install


@pytest.mark.parametrize(
    ("kind", "accelerator", "expected"),
    [
        (AMPERE, "auto", "bf16-mixed"),
        (AMPERE, "gpu", "bf16-mixed"),
        (AMPERE, "cuda", "bf16-mixed"),
        (AMPERE, "cpu", "32-true"),  # a GPU in the machine, but the run trains on the CPU
        (TURING, "auto", "32-true"),  # bf16 only emulated: slower than fp32
        (NO_GPU, "auto", "32-true"),
        (NO_GPU, "mps", "32-true"),
    ],
)
def test_precision_default(gpu, kind: tuple, accelerator: str, expected: str):
    gpu(kind)
    assert precision(accelerator) == expected


def test_the_trainer_config_resolves_it_and_validation_accepts_it(gpu, tmp_path: Path):
    gpu(AMPERE)
    cfg = make_cfg("pretrain", ["trainer.accelerator=auto"], tmp_path)
    assert cfg.trainer.precision == "bf16-mixed"
    validate(cfg, PretrainConfig)
    gpu(NO_GPU)
    assert cfg.trainer.precision == "32-true"  # resolved when read, on the machine that runs


def test_an_explicit_precision_wins(gpu, tmp_path: Path):
    gpu(AMPERE)
    cfg = make_cfg("pretrain", ["trainer.accelerator=auto", "trainer.precision=32-true"], tmp_path)
    assert cfg.trainer.precision == "32-true"
    validate(cfg, PretrainConfig)
