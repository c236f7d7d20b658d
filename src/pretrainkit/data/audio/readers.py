"""Reading audio files into float32 mono waveforms at one sample rate, through libsndfile
(soundfile): WAV, FLAC, OGG and whatever else it recognises by header, plus Asterisk's
headerless raw GSM 6.10 (.gsm). Also: cutting or padding a clip to a fixed length, and telling
silent clips apart.

A file libsndfile cannot read, a .gsm file that is not GSM, or a file that holds no samples is
an `UnreadableAudioError` naming it; `read_many` can skip such files instead, logging each and
counting them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from pretrainkit.errors import BadValueError, MissingFileError, UserError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".gsm")
BAD_FILE_POLICIES = ("error", "skip")
FIT_MODES = ("random", "center", "start")
# Asterisk's .gsm prompts: GSM 6.10 frames (33 bytes, 160 samples each), no header at all.
GSM_FRAME_BYTES = 33
RAW_GSM = {"format": "RAW", "subtype": "GSM610", "samplerate": 8000, "channels": 1}
SKIP_HINT = "fix or remove it, or set dataset.source.on_bad_file=skip to skip such files"


class UnreadableAudioError(UserError, OSError):
    """An audio file libsndfile cannot read (not audio, a corrupt or cut header), a .gsm file
    that is not GSM, or one that holds no samples (an OSError, as a failed read of a file is)."""


def check_policy(on_bad_file: str) -> str:
    if on_bad_file not in BAD_FILE_POLICIES:
        raise BadValueError(
            f"dataset.source.on_bad_file={on_bad_file!r}: expected {' | '.join(BAD_FILE_POLICIES)}."
        )
    return on_bad_file


def check_rate(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise BadValueError(
            f"dataset.source.rate={rate!r}: expected a sample rate in Hz, a positive integer "
            "such as 8000 or 16000."
        )
    return rate


def audio_files(root: str | Path) -> list[Path]:
    """The .wav, .flac, .ogg and .gsm files under `root` (any case), recursively, sorted so
    that every run lists them in the same order."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise MissingFileError(
            f"audio folder {folder} does not exist; set dataset.source.root=<a folder of audio "
            "files>."
        )
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )


def _open(path: Path) -> BinaryIO:
    """`path` opened by Python, not libsndfile: a missing or forbidden file then fails with its
    own reason, where libsndfile only says "System error"."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise MissingFileError(
            f"audio file {path} does not exist; check the path, or list the folder again."
        ) from None
    except OSError as err:
        raise UnreadableAudioError(
            f"cannot open audio file {path} ({err.strerror}); {SKIP_HINT}."
        ) from err


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """(frames x channels float32, its sample rate) as stored in `path`."""
    with _open(path) as f:
        if f.seek(0, os.SEEK_END) == 0:
            raise UnreadableAudioError(f"audio file {path} is empty (0 bytes); {SKIP_HINT}.")
        f.seek(0)
        raw = RAW_GSM if path.suffix.lower() == ".gsm" else {}
        if raw:
            _check_raw_gsm(f.read(), path)
            f.seek(0)
        try:
            return sf.read(f, dtype="float32", always_2d=True, **raw)
        except sf.SoundFileError as err:
            reason = " ".join(getattr(err, "error_string", str(err)).split())
            raise UnreadableAudioError(
                f"cannot read audio file {path} (libsndfile: {reason}); {SKIP_HINT}."
            ) from err


def _check_raw_gsm(data: bytes, path: Path) -> None:
    """Raw GSM has no header for libsndfile to reject: any bytes decode, as noise. But every
    33-byte GSM 6.10 frame starts with the signature nibble 0xD, so check that instead."""
    heads = np.frombuffer(data, dtype=np.uint8)[::GSM_FRAME_BYTES] >> 4
    if (wrong := np.flatnonzero(heads != 0xD)).size:
        raise UnreadableAudioError(
            f"audio file {path} is not raw GSM 6.10 (frame {wrong[0]} at byte "
            f"{wrong[0] * GSM_FRAME_BYTES} lacks the 0xD signature), as a .gsm file must be; "
            f"{SKIP_HINT}."
        )


def resample(wave: np.ndarray, source: int, rate: int) -> np.ndarray:
    """`wave` (float32, mono) from `source` Hz to `rate` Hz.

    Polyphase filtering (`resample_poly`, up and down by the rates' ratio in lowest terms)
    low-pass filters as it resamples, so frequencies above the new Nyquist limit are removed
    instead of folding back as aliases; it needs no FFT of the whole clip either (unlike
    `scipy.signal.resample`, which also assumes the clip is periodic)."""
    if source == rate:
        return wave
    g = math.gcd(source, rate)
    return resample_poly(wave, rate // g, source // g).astype(np.float32, copy=False)


def read_audio(path: str | Path, rate: int) -> np.ndarray:
    """The audio in `path` as float32 mono samples in [-1, 1] at `rate` Hz, shape (samples,).

    Channels are averaged; other rates are resampled (see `resample`). Values are clipped to
    [-1, 1]: float files may store louder samples, and the resampling filter rings slightly
    past full scale around clipped peaks. A file that cannot be read or holds no samples
    raises an `UnreadableAudioError` naming it. A silent file is valid audio (see `is_silent`).
    """
    path = Path(path)
    check_rate(rate)
    frames, source = _decode(path)
    if len(frames) == 0:
        raise UnreadableAudioError(f"audio file {path} holds no samples (0 frames); {SKIP_HINT}.")
    wave = resample(frames.mean(axis=1, dtype=np.float32), source, rate)
    return np.clip(wave, -1.0, 1.0, out=wave)


def read_many(
    paths: Sequence[str | Path], rate: int, on_bad_file: str = "error"
) -> tuple[list[np.ndarray], list[int], int]:
    """(waves, the index in `paths` of each, how many were skipped) for the files `paths`.

    With `on_bad_file="error"` the first unreadable file raises its `UnreadableAudioError`;
    with "skip" each is logged with its reason and left out, and the caller gets the count to
    report (the indices say which files each wave came from)."""
    check_policy(on_bad_file)
    check_rate(rate)
    waves: list[np.ndarray] = []
    kept: list[int] = []
    skipped = 0
    for i, path in enumerate(paths):
        try:
            waves.append(read_audio(path, rate))
        except UnreadableAudioError as err:
            if on_bad_file == "error":
                raise
            skipped += 1
            log.info("skipped %s (dataset.source.on_bad_file=skip): %s", path, err)
            continue
        kept.append(i)
    return waves, kept, skipped


def is_silent(wave: np.ndarray | torch.Tensor, threshold: float = 1e-4) -> bool:
    """Whether no sample of `wave` is louder than `threshold` (full scale is 1).

    Recorded silence is rarely all zeros: Asterisk's `silence/*.wav` peak at 2/32768 (6e-5),
    dither a few 16-bit steps; the default threshold (-80 dBFS) counts those as silent, while
    speech peaks thousands of times higher."""
    peak = float(abs(wave).max()) if len(wave) else 0.0
    return peak <= threshold


def fit_length(
    wave: np.ndarray | torch.Tensor,
    samples: int,
    mode: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`wave` as a float32 torch.Tensor exactly `samples` long, ready to batch: a longer clip is
    cut, a shorter one zero-padded at the end.

    Where to cut: `mode="random"` at an offset drawn from `generator` (torch's global one if
    None, which Lightning seeds and DataLoader workers each seed differently, unlike numpy's)
    for training, "center" for evaluation (the same window every time), "start" for the first
    `samples`. The result never shares memory with `wave`, so augmenting it in place leaves
    a cached clip alone."""
    if mode not in FIT_MODES:
        raise ValueError(f"fit_length mode={mode!r}: expected {' | '.join(FIT_MODES)}")
    if samples <= 0:
        raise ValueError(f"fit_length samples={samples}: expected a positive length")
    source = torch.as_tensor(wave, dtype=torch.float32)
    extra = len(source) - samples
    if extra <= 0:
        out = torch.zeros(samples, dtype=torch.float32)
        out[: len(source)] = source
        return out
    if mode == "random":
        start = int(torch.randint(0, extra + 1, (), generator=generator))
    else:
        start = extra // 2 if mode == "center" else 0
    return source[start : start + samples].clone()
