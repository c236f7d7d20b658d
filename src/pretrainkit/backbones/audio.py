"""Backbones for recordings: raw waveforms in, SpecAugment while training, features out.

The loader hands over float waveforms (B, samples) at the dataset's rate; everything after that
runs on the batch's device: the log-mel spectrogram (`pretrainkit.data.audio.logmel`),
SpecAugment's frequency and time masks (training mode only) and a normalisation of the input
(`SpectrogramBackbone`), then a network on the (B, 1, n_mels, frames) result: `SmallCNN` here
(`AudioCNN`), a ViT over spectrogram patches in `audio_vit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import nn

from pretrainkit.backbones.base import Backbone, Layers, layers_around
from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.config.values import Range
from pretrainkit.data.audio.logmel import LogMel
from pretrainkit.errors import BadValueError

Positive = Annotated[int, Range(ge=1)]
Count = Annotated[int, Range(ge=0)]
Milliseconds = Annotated[float, Range(gt=0)]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise BadValueError(message)


def _spans(
    batch: int, count: int, max_width: int, length: int, device: torch.device
) -> torch.Tensor:
    """(batch, length) bool: `count` spans per row, each of a width drawn uniformly from
    0..max_width (at most `length`) starting uniformly where it fits, independently per row."""
    if count == 0 or max_width == 0:
        return torch.zeros(batch, length, dtype=torch.bool, device=device)
    index = torch.arange(length, device=device)
    max_width = min(max_width, length)
    draws = torch.rand(2, batch, count, 1, device=device)  # torch's RNG on the device
    width = (draws[0] * (max_width + 1)).long().clamp(max=max_width)  # 0..max_width
    start = (draws[1] * (length - width + 1)).long().clamp(max=length - width)  # 0..length-width
    return ((index >= start) & (index < start + width)).any(1)


def spec_augment_masks(
    batch: int,
    n_mels: int,
    frames: int,
    freq_masks: int,
    freq_mask_width: int,
    time_masks: int,
    time_mask_fraction: float,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """SpecAugment's masks (Park et al., 2019), drawn per example: (batch, n_mels) bool, True on
    the mel rows of `freq_masks` bands of 0..freq_mask_width rows each, and (batch, frames) bool,
    True on the frames of `time_masks` spans of 0..int(time_mask_fraction * frames) frames each
    (the paper's F, m_F, m_T and p with T = p * frames). Bands may overlap, as in the paper."""
    device = torch.device(device)
    freq = _spans(batch, freq_masks, freq_mask_width, n_mels, device)
    time = _spans(batch, time_masks, int(time_mask_fraction * frames), frames, device)
    return freq, time


def spec_augment(
    spec: torch.Tensor,
    freq_masks: int = 2,
    freq_mask_width: int = 8,
    time_masks: int = 2,
    time_mask_fraction: float = 0.1,
) -> torch.Tensor:
    """(B, 1, n_mels, frames) log-mel spectrograms with SpecAugment's masked bands set to each
    example's mean: the paper zeroes them in spectrograms normalised to zero mean, which it notes
    is setting them to the mean (Park et al., 2019, section 2). Here the mean is taken before
    the batch normalisation that follows, so no example's level leaks into another's masks. The
    whole batch at once, no value read back to the host."""
    b, _, n_mels, frames = spec.shape
    freq, time = spec_augment_masks(
        b, n_mels, frames, freq_masks, freq_mask_width, time_masks, time_mask_fraction, spec.device
    )
    masked = freq[:, None, :, None] | time[:, None, None, :]  # (B, 1, n_mels, frames)
    return torch.where(masked, spec.mean(dim=(1, 2, 3), keepdim=True), spec)


class SpectrogramBackbone(Backbone):
    """What every recording backbone here does before its network: waveforms (B, samples) at
    `sample_rate` -> normalised log-mel spectrograms (B, 1, n_mels, frames), `spectrogram`.

    1. Log-mel (`LogMel`): a `win_ms` Hann window every `hop_ms`, `n_mels` Slaney mel bands
       from `f_min` to `f_max` (None: Nyquist), BYOL-A's and Audio-MAE's front end.
    2. In training mode only, SpecAugment (Park et al., 2019, without time warping): per
       example, `freq_masks` bands of up to `freq_mask_width` mel rows and `time_masks` spans of
       up to `time_mask_fraction` of the frames set to the example's mean (`spec_augment`).
       `freq_masks=0 time_masks=0` turns it off.
    3. `BatchNorm2d(1, affine=False)` on the spectrogram: one mean and one variance over
       (batch, mel, time). In training it is BYOL-A's Post-Normalization (Niizumi et al., 2021:
       `NormalizeBatch`, statistics of the augmented batch over axes [0, 2, 3]); in eval its
       running averages play the part of BYOL-A's Pre-Normalization with the dataset's mean and
       std, as Audio-MAE (Huang et al., 2022) and AST normalise with dataset statistics. Unlike
       a per-example normalisation it keeps a clip's loudness and the spread of its levels.
       No affine: the network's first layer already scales it.

    Subclasses pass their own arguments on in `spec` and build their network after this.
    """

    modality = "audio"

    def __init__(
        self,
        sample_rate: int,
        n_mels: int,
        win_ms: float,
        hop_ms: float,
        f_min: float,
        f_max: float | None,
        freq_masks: int,
        freq_mask_width: int,
        time_masks: int,
        time_mask_fraction: float,
        **spec: object,
    ) -> None:
        for name, value in {
            "freq_masks": freq_masks,
            "freq_mask_width": freq_mask_width,
            "time_masks": time_masks,
        }.items():
            _require(value >= 0, f"backbone.{name}={value} must be >= 0")
        _require(
            0 <= time_mask_fraction <= 1,
            f"backbone.time_mask_fraction={time_mask_fraction} is outside [0, 1]",
        )
        super().__init__(
            sample_rate=sample_rate,
            n_mels=n_mels,
            win_ms=win_ms,
            hop_ms=hop_ms,
            f_min=f_min,
            f_max=f_max,
            freq_masks=freq_masks,
            freq_mask_width=freq_mask_width,
            time_masks=time_masks,
            time_mask_fraction=time_mask_fraction,
            **spec,
        )
        # LogMel checks the rate, window, band edges and mel count itself (BadValueError)
        self.logmel = LogMel(sample_rate, n_mels, win_ms, hop_ms, f_min=f_min, f_max=f_max)
        self.masks = (freq_masks, freq_mask_width, time_masks, time_mask_fraction)
        self.norm = nn.BatchNorm2d(1, affine=False)

    def spectrogram(self, waveforms: torch.Tensor, augment: bool | None = None) -> torch.Tensor:
        """(B, samples) -> the (B, 1, n_mels, frames) the network reads: log-mel, SpecAugment's
        masks (`augment`; None: in training mode), normalised."""
        if waveforms.ndim != 2 or not waveforms.is_floating_point():
            raise BadValueError(
                f"the audio backbone reads float waveforms of shape (batch, samples), got a "
                f"{waveforms.dtype} tensor of shape {tuple(waveforms.shape)}"
            )
        spec = self.logmel(waveforms)
        augment = self.training if augment is None else augment
        if augment and (self.masks[0] or self.masks[2]):
            spec = spec_augment(spec, *self.masks)
        return self.norm(spec)


class AudioCNN(SpectrogramBackbone):
    """Waveforms (B, samples) at `sample_rate` -> features (B, widths[-1]): the log-mel,
    SpecAugment and normalisation of `SpectrogramBackbone`, then `SmallCNN(in_chans=1,
    widths)`: Conv-BN-ReLU stages and global average pooling, which takes any (n_mels, frames).
    """

    def __init__(
        self,
        sample_rate: Positive,
        n_mels: Positive = 64,
        win_ms: Milliseconds = 25.0,
        hop_ms: Milliseconds = 10.0,
        f_min: Annotated[float, Range(ge=0)] = 60.0,
        f_max: Annotated[float, Range(gt=0)] | None = None,
        widths: Sequence[int] = (32, 64, 128),
        freq_masks: Count = 2,
        freq_mask_width: Count = 8,
        time_masks: Count = 2,
        time_mask_fraction: Annotated[float, Range(ge=0, le=1)] = 0.1,
    ) -> None:
        widths = [int(w) for w in widths]
        _require(bool(widths), "backbone.widths=[] needs at least one width")
        for i, w in enumerate(widths):
            _require(w >= 1, f"backbone.widths[{i}]={w} must be >= 1")
        super().__init__(
            sample_rate,
            n_mels,
            win_ms,
            hop_ms,
            f_min,
            f_max,
            freq_masks,
            freq_mask_width,
            time_masks,
            time_mask_fraction,
            widths=widths,
        )
        self.cnn = SmallCNN(in_chans=1, widths=widths)
        self.feature_dim = self.cnn.feature_dim

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.spectrogram(waveforms))  # (B, widths[-1])

    def layers(self) -> Layers:
        """Each Conv-BN-ReLU block of the CNN is a layer (nothing before it learns)."""
        return layers_around(self, list(self.cnn.features))
