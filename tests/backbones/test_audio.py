"""The log-mel CNN: features from waveforms of any length and rate; SpecAugment's masks only in
training, drawn per example and within their bounds; rebuilt from its spec; every parameter
trained; bad input refused in one line."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pretrainkit.backbones.audio import AudioCNN, spec_augment, spec_augment_masks
from pretrainkit.config import config_dir
from pretrainkit.config.checks import check_target
from pretrainkit.data.audio.readers import fit_length, read_audio
from pretrainkit.errors import BadValueError
from pretrainkit.run.export import load_backbone, save_backbone

SMALL = {"widths": [8, 16]}  # the same code as the default [32, 64, 128], in milliseconds


def noise(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def speech(asterisk_root: str) -> torch.Tensor:
    """Six Italian prompts (it_IT_f_Menardi), 1 s each from their middle, at 8 kHz: (6, 8000)."""
    paths = sorted(Path(asterisk_root, "it_IT_f_Menardi").glob("*.wav"))[:6]
    return torch.stack([fit_length(read_audio(p, 8000), 8000, mode="center") for p in paths])


def masked_rows(masked: torch.Tensor, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, n_mels), (B, frames) bool: the mel rows and frames of `masked` (B, 1, n_mels, frames)
    that hold nothing but the mean of the example in `spec`, the spectrogram before masking
    (which must have no such row or frame of its own)."""
    hit = masked == spec.mean(dim=(1, 2, 3), keepdim=True)
    return hit.all(-1)[:, 0], hit.all(-2)[:, 0]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_features_of_one_and_two_second_clips(rate: int):
    torch.manual_seed(0)
    backbone = AudioCNN(rate)
    assert backbone.modality == "audio" and backbone.feature_dim == 128  # widths[-1]
    assert AudioCNN(rate, widths=[8, 24]).feature_dim == 24
    for seconds in (1, 2):
        x = noise(2, seconds * rate)
        frames = backbone.logmel.frames(x.shape[1])
        assert frames == 1 + seconds * 100  # a frame every 10 ms, centred
        for mode in (backbone.train, backbone.eval):
            with torch.no_grad():
                assert mode().spectrogram(x).shape == (2, 1, 64, frames)
                features = backbone(x)
            assert features.shape == (2, 128) and torch.isfinite(features).all()


def test_real_speech_gives_distinct_features(speech: torch.Tensor):
    backbone = AudioCNN(8000, **SMALL)
    backbone.train()(speech)  # running statistics from speech, not the init's 0 and 1
    with torch.no_grad():
        features = backbone.eval()(speech)
    assert features.shape == (6, 16) and torch.isfinite(features).all()
    assert torch.cdist(features, features).triu(1)[torch.ones(6, 6).triu(1).bool()].min() > 0


def test_eval_mode_is_deterministic_and_unmasked(speech: torch.Tensor):
    backbone = AudioCNN(8000, **SMALL).eval()
    with torch.no_grad():
        torch.manual_seed(0)
        first, spec = backbone(speech), backbone.spectrogram(speech)
        torch.manual_seed(1)
        assert torch.equal(first, backbone(speech))
        assert torch.equal(spec, backbone.norm(backbone.logmel(speech)))  # nothing masked
    spec = backbone.logmel(speech)
    rows, frames = masked_rows(spec, spec)
    assert not rows.any() and not frames.any()


def test_training_mode_masks_bands_of_speech_with_the_example_mean(speech: torch.Tensor):
    backbone = AudioCNN(8000, **SMALL).train()
    seen: list[torch.Tensor] = []
    backbone.norm.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        torch.manual_seed(0)
        first = backbone(speech)
        torch.manual_seed(1)
        second = backbone(speech)
        torch.manual_seed(0)
        assert torch.equal(first, backbone(speech))  # torch's RNG decides the masks
    assert not torch.allclose(first, second)
    assert not torch.equal(seen[0], seen[1])
    spec = backbone.logmel(speech)
    rows, frames = masked_rows(seen[0], spec)
    assert rows.sum(1).max() <= 2 * 8 and frames.sum(1).max() <= 2 * int(0.1 * 101)
    assert rows.any() and frames.any()
    kept = ~(rows[:, None, :, None] | frames[:, None, None, :])
    assert torch.equal(seen[0][kept], spec[kept])  # the rest untouched


def test_no_masks_turns_spec_augment_off(speech: torch.Tensor):
    backbone = AudioCNN(8000, **SMALL, freq_masks=0, time_masks=0).train()
    with torch.no_grad():
        torch.manual_seed(0)
        first = backbone.spectrogram(speech)
        torch.manual_seed(1)
        assert torch.equal(first, backbone.spectrogram(speech))
        assert torch.equal(first, backbone.norm(backbone.logmel(speech)))


def test_masks_keep_their_bounds_and_cover_every_width_and_place():
    torch.manual_seed(0)
    freq, time = spec_augment_masks(4000, 64, 101, 1, 8, 1, 0.1)
    assert freq.shape == (4000, 64) and time.shape == (4000, 101)
    for mask, bound, length in ((freq, 8, 64), (time, 10, 101)):
        widths = mask.sum(1)
        assert set(widths.tolist()) == set(range(bound + 1))  # 0..F, as the paper draws them
        edges = mask.int().diff(dim=1, prepend=torch.zeros(4000, 1, dtype=torch.int32))
        assert (edges == 1).sum(1).max() == 1  # one contiguous span
        assert mask[:, 0].any() and mask[:, -1].any()  # it reaches both ends
        hits = mask.float().mean(0)
        assert hits.min() > 0 and hits[length // 2] > 2 * hits[0]  # the middle is hit more
    freq, time = spec_augment_masks(500, 64, 101, 3, 8, 2, 0.2)
    assert freq.sum(1).max() <= 3 * 8 and time.sum(1).max() <= 2 * 20
    freq, _ = spec_augment_masks(50, 16, 101, 2, 100, 0, 0.5)  # wider than the mel axis: all
    assert freq.sum(1).max() == 16


def test_masks_are_drawn_per_example():
    torch.manual_seed(0)
    spec = torch.arange(64 * 101.0).view(1, 1, 64, 101).expand(32, 1, 64, 101)  # one example
    masked = spec_augment(spec)
    rows, frames = masked_rows(masked, spec)
    assert rows.unique(dim=0).shape[0] > 16 and frames.unique(dim=0).shape[0] > 16
    assert rows.sum(1).max() <= 2 * 8 and frames.sum(1).max() <= 2 * 10
    mean = spec.mean(dim=(1, 2, 3), keepdim=True)  # as spec_augment takes it: the sum's order,
    # and with it the last bit, depends on the thread count
    assert ((masked == mean) | (masked == spec)).all()  # the example's mean or untouched
    assert torch.allclose(mean, spec.mean())


def test_the_state_dict_holds_no_filterbank_and_the_spec_rebuilds_it(
    speech: torch.Tensor, tmp_path: Path
):
    backbone = AudioCNN(8000, **SMALL, n_mels=40, f_max=3800.0)
    backbone.train()(speech).sum().backward()  # move BatchNorm's running statistics
    state = backbone.state_dict()
    assert not any(k.startswith("logmel.") for k in state)
    assert {k for k in state if k.startswith("norm.")} == {
        "norm.running_mean",
        "norm.running_var",
        "norm.num_batches_tracked",
    }
    assert backbone.spec == {
        "_target_": "pretrainkit.backbones.audio.AudioCNN",
        "sample_rate": 8000,
        "n_mels": 40,
        "win_ms": 25.0,
        "hop_ms": 10.0,
        "f_min": 60.0,
        "f_max": 3800.0,
        "widths": [8, 16],
        "freq_masks": 2,
        "freq_mask_width": 8,
        "time_masks": 2,
        "time_mask_fraction": 0.1,
    }
    rebuilt = instantiate(backbone.spec)
    rebuilt.load_state_dict(state)  # strict: the same keys
    with torch.no_grad():
        assert torch.equal(backbone.eval()(speech), rebuilt.eval()(speech))
    save_backbone(backbone, tmp_path, {"task": "simclr_audio"})
    loaded, info = load_backbone(tmp_path, fallback=None)
    assert type(loaded) is AudioCNN and info["backbone"] == backbone.spec
    with torch.no_grad():
        assert torch.equal(backbone(speech), loaded.eval()(speech))


def test_gradients_reach_every_parameter(speech: torch.Tensor):
    backbone = AudioCNN(8000, **SMALL).train()
    backbone(speech).square().mean().backward()
    for name, param in backbone.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_layers_place_every_parameter():
    backbone = AudioCNN(8000, **SMALL)
    layers = backbone.layers()
    assert layers.blocks == 4  # two Conv-BN-ReLU blocks a stage
    assert set(layers.depth) == {n for n, _ in backbone.named_parameters()}
    assert layers.depth["cnn.features.0.0.weight"] == 1
    assert layers.depth["cnn.features.3.1.weight"] == 4


@pytest.mark.parametrize(
    "shape", [(8000,), (2, 1, 8000), (2, 1, 64, 101)], ids=["one clip", "channel", "image"]
)
def test_a_batch_of_another_rank_is_refused(shape: tuple[int, ...]):
    backbone = AudioCNN(8000, **SMALL)
    with pytest.raises(BadValueError, match=r"float waveforms of shape \(batch, samples\)") as err:
        backbone(torch.zeros(shape))
    assert f"shape {shape}" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(BadValueError, match=r"got a torch.int16 tensor"):
        backbone(torch.zeros(2, 8000, dtype=torch.int16))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"widths": []}, r"backbone\.widths=\[\] needs at least one width"),
        ({"widths": [8, 0]}, r"backbone\.widths\[1\]=0 must be >= 1"),
        ({"freq_masks": -1}, r"backbone\.freq_masks=-1 must be >= 0"),
        ({"time_mask_fraction": 1.5}, r"backbone\.time_mask_fraction=1.5 is outside \[0, 1\]"),
        ({"sample_rate": 0}, "audio sample_rate=0 must be positive"),
        ({"f_max": 5000.0}, "above the Nyquist frequency 4000.0"),
        ({"n_mels": 200}, "audio n_mels=200 is too many"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(bad: dict, message: str):
    with pytest.raises(BadValueError, match=message) as err:
        AudioCNN(**{"sample_rate": 8000, **SMALL, **bad})
    assert "\n" not in str(err.value)


def test_the_config_passes_validation_and_builds_at_the_dataset_rate():
    node = OmegaConf.load(Path(config_dir()) / "backbone" / "audio_cnn.yaml")
    check_target("backbone", node)  # what pretrainkit.config.validate runs on it
    plain = OmegaConf.to_container(node, resolve=False)
    assert plain.pop("_target_") == "pretrainkit.backbones.audio.AudioCNN"
    assert plain.pop("sample_rate") == "${dataset.rate}"
    defaults = {
        name: list(p.default) if isinstance(p.default, tuple) else p.default
        for name, p in inspect.signature(AudioCNN).parameters.items()
    }
    assert plain == {k: v for k, v in defaults.items() if k != "sample_rate"}  # the class's
    backbone = instantiate(node, sample_rate=8000)
    assert type(backbone) is AudioCNN and backbone.spec["sample_rate"] == 8000
    with torch.no_grad():
        assert backbone.eval()(noise(2, 8000)).shape == (2, 128)
