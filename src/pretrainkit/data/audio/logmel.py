"""Waveforms -> log-mel spectrograms, a whole batch at once on the batch's device.

The loader hands over raw waveforms (cheap to decode and collate); `LogMel` turns them into the
(B, 1, n_mels, frames) "images" an image backbone pretrains on, on the training device like the
augmentations in `pretrainkit.augment.on_device`. Nothing in `forward` goes through numpy or reads
a tensor back to the host, so it runs on the GPU queued with the model's own work and gradients
flow through it.

Defaults follow the audio self-supervised papers: a 25 ms Hann window every 10 ms, mel power in
64 bands from 60 Hz, log with a small offset -- BYOL-A (Niizumi et al., 2021: 16 kHz, 25 ms /
10 ms, 64 mels, 60-7800 Hz, log(mel + eps)) and Audio-MAE (Huang et al., 2022: 16 kHz, 25 ms /
10 ms, 128 mels, log). The filterbank is librosa's default (`librosa.filters.mel(htk=False,
norm="slaney")`): Slaney's mel scale, each triangle scaled to unit area, so a band's value does
not grow with its width.
"""

from __future__ import annotations

import math

import torch

from pretrainkit.errors import BadValueError

# Slaney's mel scale (Auditory Toolbox, as librosa's htk=False): linear below 1 kHz, log above.
LINEAR_HZ_PER_MEL = 200.0 / 3
LOG_START_HZ = 1000.0
LOG_START_MEL = LOG_START_HZ / LINEAR_HZ_PER_MEL  # 15
LOG_STEP = math.log(6.4) / 27.0  # mel -> ln(Hz) slope above 1 kHz


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel of each frequency in Hz."""
    log_part = LOG_START_MEL + torch.log(hz.clamp(min=LOG_START_HZ) / LOG_START_HZ) / LOG_STEP
    return torch.where(hz >= LOG_START_HZ, log_part, hz / LINEAR_HZ_PER_MEL)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of `hz_to_mel`."""
    log_part = LOG_START_HZ * torch.exp(LOG_STEP * (mel.clamp(min=LOG_START_MEL) - LOG_START_MEL))
    return torch.where(mel >= LOG_START_MEL, log_part, mel * LINEAR_HZ_PER_MEL)


def mel_filters(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float,
    f_max: float,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters over the rFFT bins: what
    `librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max,
    htk=False, norm="slaney")` gives, computed in float64 then cast to `dtype`."""
    fft_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lo, hi = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    edges = mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2, dtype=torch.float64))
    widths = edges.diff()  # (n_mels + 1,)
    ramps = edges[:, None] - fft_hz[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.minimum(rising, falling).clamp(min=0)
    weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]  # unit area per triangle
    return weights.to(dtype)


class LogMel(torch.nn.Module):
    """(B, samples) float waveforms -> (B, 1, n_mels, frames) log-mel spectrograms.

    `log(mel_filters @ |STFT|^power + log_offset)`, then `(x - mean) / std` with fixed dataset
    statistics (0 and 1 by default: none). The STFT is centred (`center=True`, reflect padding), so
    frame t describes the audio around sample t * hop and `frames(samples) = 1 + samples // hop`.
    The window (`win_ms` long, zero-padded to `n_fft`, by default the next power of two) and the
    filterbank are non-persistent buffers: they follow `.to(device)` but stay out of the state dict,
    so checkpoints and exported backbones hold nothing but learned weights. They are built in
    float64 and kept in the default dtype; float64 input computes in float64, half input in
    float32. Gradients reach the waveform (power 2 is differentiable everywhere; another power
    has an infinite slope where a bin is exactly 0, as in digital silence).
    """

    window: torch.Tensor
    filters: torch.Tensor

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 64,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_fft: int | None = None,
        f_min: float = 60.0,
        f_max: float | None = None,
        power: float = 2.0,
        log_offset: float = 1e-6,
        mean: float = 0.0,
        std: float = 1.0,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise BadValueError(f"audio sample_rate={sample_rate} must be positive.")
        self.win_length = round(win_ms * sample_rate / 1000)
        self.hop_length = round(hop_ms * sample_rate / 1000)
        if self.win_length < 2 or self.hop_length < 1:
            raise BadValueError(
                f"audio win_ms={win_ms} / hop_ms={hop_ms} give a window of {self.win_length} and "
                f"a hop of {self.hop_length} samples at {sample_rate} Hz: raise them."
            )
        self.n_fft = n_fft if n_fft is not None else 1 << (self.win_length - 1).bit_length()
        if self.win_length > self.n_fft:
            raise BadValueError(
                f"audio win_ms={win_ms} is {self.win_length} samples at {sample_rate} Hz, longer "
                f"than n_fft={self.n_fft}: raise n_fft or lower win_ms."
            )
        nyquist = sample_rate / 2
        f_max = nyquist if f_max is None else float(f_max)
        if f_max > nyquist:
            raise BadValueError(
                f"audio f_max={f_max} is above the Nyquist frequency {nyquist} of "
                f"sample_rate={sample_rate}: lower f_max (or leave it unset)."
            )
        if not 0 <= f_min < f_max:
            raise BadValueError(f"audio f_min={f_min} must be at least 0 and below f_max={f_max}.")
        if n_mels < 1:
            raise BadValueError(f"audio n_mels={n_mels} must be at least 1.")
        if power <= 0 or log_offset <= 0 or std <= 0:
            raise BadValueError(
                f"audio power={power}, log_offset={log_offset} and std={std} must be positive."
            )
        filters = mel_filters(sample_rate, self.n_fft, n_mels, f_min, f_max)
        empty = (filters.amax(1) == 0).nonzero().flatten().tolist()
        if empty:
            raise BadValueError(
                f"audio n_mels={n_mels} is too many for n_fft={self.n_fft} between f_min={f_min} "
                f"and f_max={f_max} Hz: {len(empty)} mel bands hold no FFT bin (the first is "
                f"band {empty[0]}); lower n_mels (or raise n_fft or f_min)."
            )
        self.sample_rate, self.n_mels, self.f_min, self.f_max = sample_rate, n_mels, f_min, f_max
        self.power, self.log_offset, self.mean, self.std = power, log_offset, mean, std
        dtype = torch.get_default_dtype()
        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window.to(dtype), persistent=False)
        self.register_buffer("filters", filters.to(dtype), persistent=False)

    def frames(self, samples: int) -> int:
        """The time length of the spectrogram of a clip of `samples` samples."""
        padded = samples + 2 * (self.n_fft // 2)  # center=True pads n_fft // 2 each side
        return 1 + (padded - self.n_fft) // self.hop_length

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.ndim != 2 or not waveforms.is_floating_point():
            raise ValueError(
                f"LogMel takes (batch, samples) float waveforms, got {tuple(waveforms.shape)} "
                f"{waveforms.dtype}."
            )
        if waveforms.shape[1] <= self.n_fft // 2:
            raise BadValueError(
                f"audio clips of {waveforms.shape[1]} samples are too short for n_fft={self.n_fft} "
                f"(need more than {self.n_fft // 2}): use longer clips or a smaller win_ms."
            )
        # half precision has neither the FFT sizes nor the range of a quiet band's power
        x = waveforms if waveforms.dtype == torch.float64 else waveforms.float()
        spec = torch.stft(
            x,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window.to(x.dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )  # (B, n_fft // 2 + 1, frames)
        power = torch.view_as_real(spec).square().sum(-1)  # |X|^2, differentiable at 0
        if self.power != 2.0:
            power = power.pow(self.power / 2)
        mel = torch.matmul(self.filters.to(x.dtype), power)  # (B, n_mels, frames)
        out = torch.log(mel + self.log_offset)
        if self.mean != 0.0 or self.std != 1.0:
            out = (out - self.mean) / self.std
        return out.unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, f_min={self.f_min}, "
            f"f_max={self.f_max}, power={self.power}, log_offset={self.log_offset}"
        )
