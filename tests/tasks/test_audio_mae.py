"""Audio-MAE: MAE over a clip's spectrogram patches, without SpecAugment; a falling loss on
real prompts; a backbone that is not a spectrogram ViT refused."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from pretrainkit.backbones.audio import AudioCNN
from pretrainkit.backbones.audio_vit import AudioViT
from pretrainkit.backbones.vit import patchify
from pretrainkit.data.audio.readers import fit_length, read_audio
from pretrainkit.errors import BadValueError
from pretrainkit.tasks.audio_mae import AudioMAE


def small_task(seconds: float = 1.0, **kwargs: object) -> AudioMAE:
    backbone = AudioViT(8000, seconds, model_kwargs={"depth": 1})
    return AudioMAE(backbone, partial(torch.optim.AdamW, lr=1e-3), **kwargs)


@pytest.fixture(scope="module")
def speech(asterisk_root: str) -> torch.Tensor:
    """Eight French prompts (fr_CA_f_June), 1 s from their middle, at 8 kHz: (8, 8000)."""
    paths = sorted(Path(asterisk_root, "fr_CA_f_June").glob("*.wav"))[:8]
    return torch.stack([fit_length(read_audio(p, 8000), 8000, mode="center") for p in paths])


def test_predicts_every_spectrogram_patch_and_hides_80_percent():
    task = small_task()
    images = task.images(0.1 * torch.randn(3, 8000))  # (B, 1, 64, 96)
    pred, mask = task(images)
    assert pred.shape == (3, 8 * 12, 8 * 8) and mask.shape == (3, 96)
    assert mask.sum(1).tolist() == [96 - 19] * 3  # int(96 * 0.2) patches stay visible
    assert patchify(images, 8).shape == pred.shape
    assert torch.isfinite(task.loss(images, pred, mask))


def test_the_task_reads_the_spectrogram_without_spec_augment():
    task = small_task().train()  # training mode: the backbone alone would mask bands
    waves = 0.1 * torch.randn(4, 8000)
    torch.manual_seed(0)
    seen = task.images(waves)
    assert torch.equal(seen, task.backbone.spectrogram(waves, augment=False))


def test_loss_falls_on_real_prompts(speech: torch.Tensor):
    torch.manual_seed(0)
    task = small_task().train()
    optimizer = torch.optim.AdamW(task.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        task.log = lambda *a, **k: None  # no trainer here
        loss = task.step(speech, "train")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses


def test_a_backbone_without_spectrogram_patches_is_refused():
    with pytest.raises(
        BadValueError, match="task=audio_mae masks the patches of a ViT.*backbone=audio_vit"
    ):
        AudioMAE(AudioCNN(8000, widths=[8]), partial(torch.optim.AdamW))
