"""Denoising autoencoder: the corruption, the decoder's output shapes, and a falling loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import logged, make_cfg

from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.denoising_ae import ConvDecoder, corrupt


def test_corruption_noise_and_mask_statistics():
    torch.manual_seed(0)
    x = torch.ones(64, 3, 16, 16)
    masked = corrupt(x, noise_std=0.0, mask_ratio=0.25)
    zero = masked == 0
    assert abs(zero.float().mean().item() - 0.25) < 0.02
    assert torch.equal(zero[:, 0], zero[:, 2])  # a masked pixel loses all its channels
    noisy = corrupt(x, noise_std=0.5, mask_ratio=0.0)
    assert abs((noisy - x).std().item() - 0.5) < 0.02


@pytest.mark.parametrize("size", [8, 16, 28, 32, 96])
def test_decoder_reconstructs_at_the_image_size(size: int):
    decoder = ConvDecoder(feature_dim=128, out_chans=1, image_size=size, width=8)
    assert decoder(torch.randn(2, 128)).shape == (2, 1, size, size)


def test_nothing_to_corrupt_is_refused(tmp_path: Path):
    from hydra.utils import instantiate

    cfg = make_cfg(
        "pretrain", ["task=denoising_ae", "task.noise_std=0", "task.mask_ratio=0"], tmp_path
    )
    with pytest.raises(Exception, match="not both zero"):
        instantiate(cfg.task, backbone=instantiate(cfg.backbone))


@pytest.mark.parametrize(
    ("override", "refusal"),
    [
        ("task.noise_std=-0.1", r"task.noise_std=-0.1 must be >= 0"),
        ("task.mask_ratio=1", r"task.mask_ratio=1 is outside \[0, 1\)"),
    ],
)
def test_corruption_outside_its_range_is_refused_by_the_config_check(
    override: str, refusal: str, tmp_path: Path
):
    """The signature holds each argument's range; the config check reads it before any work."""
    cfg = make_cfg("pretrain", ["task=denoising_ae", override], tmp_path)
    with pytest.raises(ConfigError, match=refusal):
        validate(cfg, PretrainConfig)


@pytest.mark.slow
def test_loss_falls_on_digits(tmp_path: Path):
    overrides = [
        "task=denoising_ae",
        "logger=csv",
        "trainer.max_epochs=5",
        "trainer.limit_train_batches=1.0",
    ]
    pretrain(make_cfg("pretrain", overrides, tmp_path))
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 5 and epochs[-1] < 0.7 * epochs[0]
