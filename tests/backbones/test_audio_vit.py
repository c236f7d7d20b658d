"""The spectrogram ViT: a rectangular grid of (mel, time) patches per clip, the positions and
patch order MAE relies on, SpecAugment only in training, a clip of another length refused, and
rebuilt from its spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pretrainkit.backbones.audio_vit import AudioViT
from pretrainkit.backbones.vit import fix_sincos_pos_embed, patchify, sincos_pos_embed, unpatchify
from pretrainkit.errors import BadValueError
from pretrainkit.run.export import load_backbone, save_backbone


def small(seconds: float = 0.5, **kwargs: object) -> AudioViT:
    """One block: the same code as ViT-Tiny's twelve, in milliseconds."""
    return AudioViT(8000, seconds, model_kwargs={"depth": 1}, **kwargs)


@pytest.mark.parametrize(("seconds", "grid"), [(0.5, (8, 6)), (1.0, (8, 12)), (2.0, (8, 25))])
def test_one_clip_is_a_grid_of_mel_by_time_patches(seconds: float, grid: tuple[int, int]):
    vit = small(seconds)
    # 1 + samples // hop frames at a 10 ms hop; the frames past the last whole patch are dropped
    assert vit.clip_frames == 1 + round(seconds * 100)
    assert tuple(vit.model.patch_embed.grid_size) == grid and vit.frames == grid[1] * 8
    waves = 0.1 * torch.randn(3, round(seconds * 8000))
    spec = vit.eval().spectrogram(waves)
    assert spec.shape == (3, 1, 64, grid[1] * 8)
    assert vit(waves).shape == (3, 192)


def test_rectangular_patches_round_trip_in_the_vits_token_order():
    vit = small(1.0)
    spec = vit.eval().spectrogram(0.1 * torch.randn(2, 8000))  # (2, 1, 64, 96)
    patches = patchify(spec, 8)  # (B, 8 * 12, 64)
    assert patches.shape == (2, 96, 64)
    assert torch.equal(unpatchify(patches, 8, 1, (8, 12)), spec)
    embed = vit.model.patch_embed  # token k is a linear map of exactly patch k's values
    weight = embed.proj.weight.permute(0, 2, 3, 1).flatten(1)  # (D, p*p*C)
    torch.testing.assert_close(
        embed(spec), patches @ weight.T + embed.proj.bias, atol=1e-5, rtol=1e-4
    )
    with pytest.raises(BadValueError, match="96 patches do not fill a 8x8 grid"):
        unpatchify(patches, 8, 1, (8, 8))


def test_sincos_positions_of_a_rectangular_grid_encode_column_then_row():
    pos = sincos_pos_embed(8, (2, 3))  # 2 rows x 3 columns, row-major
    assert pos.shape == (6, 8)
    # channels 0-3 encode the column (sin, cos of column * omega), 4-7 the row; omega = 1, 1e-2
    omega = torch.tensor([1.0, 0.01])
    for k in range(6):
        row, col = divmod(k, 3)
        expected = torch.cat(
            [(col * omega).sin(), (col * omega).cos(), (row * omega).sin(), (row * omega).cos()]
        )
        torch.testing.assert_close(pos[k], expected)
    assert torch.equal(sincos_pos_embed(8, 3), sincos_pos_embed(8, (3, 3)))  # square as before
    vit = small(1.0)
    fix_sincos_pos_embed(vit.model)
    assert torch.equal(vit.model.pos_embed[0, 1:], sincos_pos_embed(192, (8, 12)))
    assert not vit.model.pos_embed[0, 0].any() and not vit.model.pos_embed.requires_grad


def test_spec_augment_only_in_training_and_on_request():
    torch.manual_seed(0)
    vit = small(1.0)
    waves = 0.1 * torch.randn(4, 8000)
    vit.train()
    plain = vit.spectrogram(waves, augment=False)
    masked = vit.spectrogram(waves)  # training mode: masks on
    assert not torch.equal(plain, masked)
    vit.eval()
    assert torch.equal(vit.spectrogram(waves), vit.spectrogram(waves, augment=False))


def test_features_average_the_normed_patch_tokens():
    vit = small(0.5).eval()
    waves = 0.1 * torch.randn(2, 4000)
    tokens = vit.model.forward_features(vit.spectrogram(waves))  # (B, 1 + N, D), final norm
    torch.testing.assert_close(vit(waves), tokens[:, 1:].mean(1))


def test_bad_shapes_are_refused_in_one_line():
    with pytest.raises(BadValueError, match="n_mels=60 is not divisible by backbone.patch_size=8"):
        small(n_mels=60)
    with pytest.raises(BadValueError, match="fewer than one patch"):
        AudioViT(8000, 0.05, model_kwargs={"depth": 1}, patch_size=16, n_mels=64)
    with pytest.raises(BadValueError, match=r"built for 0.5 s clips .* set data.clip_seconds=0.5"):
        small(0.5)(torch.zeros(2, 8000))


def test_exported_and_rebuilt_from_its_spec(tmp_path: Path):
    vit = small(0.5)
    save_backbone(vit, tmp_path, {"task": "audio_mae"})
    loaded, _ = load_backbone(tmp_path, fallback=None)
    assert isinstance(loaded, AudioViT) and loaded.frames == vit.frames
    waves = 0.1 * torch.randn(2, 4000)
    torch.testing.assert_close(loaded.eval()(waves), vit.eval()(waves))
