"""Reading audio: real recorded prompts (WAV and Asterisk's raw GSM), other formats, rates and
channel counts, the files libsndfile cannot read, silence, and fitting clips to one length."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pretrainkit.data.audio.readers import (
    UnreadableAudioError,
    audio_files,
    fit_length,
    is_silent,
    read_audio,
    read_many,
)
from pretrainkit.errors import BadValueError, MissingFileError, UserError, user_error


@pytest.fixture(scope="module")
def sounds(asterisk_root: str) -> Path:
    """The prompts folder; the conftest fixture skips without it (fails in CI)."""
    return Path(asterisk_root)


@pytest.fixture(scope="module")
def wav(sounds: Path) -> Path:
    return sounds / "it_IT_f_Menardi" / "agent-pass.wav"  # 8 kHz mono PCM16, 3.4 s


def sine(freq: float, rate: int, seconds: float) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def test_a_real_wav_reads_as_speech(wav: Path):
    wave = read_audio(wav, 8000)
    assert wave.dtype == np.float32 and wave.shape == (sf.info(wav).frames,)
    assert 3 < len(wave) / 8000 < 4
    assert 0.3 < np.abs(wave).max() <= 1 and not is_silent(wave)


def test_a_real_raw_gsm_reads_as_speech(sounds: Path):
    path = sounds / "es" / "agent-pass.gsm"
    wave = read_audio(path, 8000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == path.stat().st_size // 33 * 160  # a GSM frame: 33 bytes, 160 samples
    assert 3 < len(wave) / 8000 < 6
    assert 0.3 < np.abs(wave).max() <= 1 and not is_silent(wave)


def test_upsampling_a_real_clip_doubles_it_and_keeps_its_samples(wav: Path):
    at_8k, at_16k = read_audio(wav, 8000), read_audio(wav, 16000)
    assert len(at_16k) == 2 * len(at_8k)
    assert np.abs(at_16k[::2] - at_8k).max() < 5e-3  # the filter's taps pass the originals


def test_a_stereo_tone_is_averaged_and_keeps_its_pitch(tmp_path: Path):
    tone = sine(440, 44100, 1.0)
    sf.write(tmp_path / "tone.wav", np.stack([0.6 * tone, np.zeros_like(tone)], axis=1), 44100)
    wave = read_audio(tmp_path / "tone.wav", 16000)
    assert len(wave) == 16000
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.fft.rfftfreq(len(wave), 1 / 16000)[spectrum.argmax()] - 440) <= 3
    assert np.abs(wave[100:-100]).max() == pytest.approx(0.3, abs=0.01)  # (0.6 + 0) / 2


@pytest.mark.parametrize(("suffix", "close"), [(".flac", 1e-6), (".ogg", None)])
def test_flac_and_ogg_read_back(wav: Path, tmp_path: Path, suffix: str, close: float | None):
    original = read_audio(wav, 8000)
    sf.write(tmp_path / f"clip{suffix}", original, 8000)
    wave = read_audio(tmp_path / f"clip{suffix}", 8000)
    assert wave.dtype == np.float32 and len(wave) == len(original)
    if close:  # FLAC is lossless; Vorbis is not, but keeps the waveform's shape
        assert np.abs(wave - original).max() < close
    else:
        assert np.corrcoef(wave, original)[0, 1] > 0.99


def bad_files(folder: Path, wav: Path) -> dict[str, Path]:
    """One of each file libsndfile cannot use, with the reason its error gives."""
    folder.mkdir(exist_ok=True)
    files = {
        "Format not recognised": folder / "noise.wav",
        "Malformed": folder / "cut.wav",
        "empty (0 bytes)": folder / "empty.wav",
        "0 frames": folder / "no_frames.wav",
    }
    files["Format not recognised"].write_bytes(np.random.default_rng(0).bytes(4000))
    files["Malformed"].write_bytes(wav.read_bytes()[:20])  # cut inside the fmt chunk
    files["empty (0 bytes)"].write_bytes(b"")
    sf.write(files["0 frames"], np.zeros(0), 8000)
    return files


def test_each_unreadable_file_is_one_line_naming_it(wav: Path, tmp_path: Path):
    for reason, path in bad_files(tmp_path, wav).items():
        with pytest.raises(UnreadableAudioError) as caught:
            read_audio(path, 8000)
        message = str(caught.value)
        assert str(path) in message and reason in message and "\n" not in message
        assert "on_bad_file=skip" in message
        assert isinstance(caught.value, OSError) and isinstance(caught.value, UserError)
        assert user_error(caught.value) == ("UnreadableAudioError", message)


def test_gsm_that_is_not_gsm_is_unreadable_and_a_missing_file_is_missing(
    sounds: Path, tmp_path: Path
):
    (tmp_path / "empty.gsm").write_bytes(b"")
    with pytest.raises(UnreadableAudioError, match="empty"):
        read_audio(tmp_path / "empty.gsm", 8000)
    # libsndfile decodes any bytes as raw GSM; the frames' 0xD signature tells noise apart
    real = (sounds / "es" / "agent-pass.gsm").read_bytes()
    (tmp_path / "noise.gsm").write_bytes(real[:330] + np.random.default_rng(0).bytes(3300))
    with pytest.raises(UnreadableAudioError, match=r"noise.gsm is not raw GSM 6.10 \(frame 1[0-9]"):
        read_audio(tmp_path / "noise.gsm", 8000)
    (tmp_path / "cut.gsm").write_bytes(real[:-10])  # a cut last frame still decodes
    assert len(read_audio(tmp_path / "cut.gsm", 8000)) == len(real) // 33 * 160
    with pytest.raises(MissingFileError, match="gone.wav"):
        read_audio(tmp_path / "gone.wav", 8000)


def test_read_many_skips_and_counts_bad_files(
    wav: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    bad = list(bad_files(tmp_path, wav).values())
    paths = [wav, bad[0], bad[1], wav, bad[2], bad[3]]
    with pytest.raises(UnreadableAudioError, match="noise.wav"):
        read_many(paths, 8000, "error")
    with caplog.at_level(logging.INFO, logger="pretrainkit.data.audio.readers"):
        waves, kept, skipped = read_many(paths, 8000, "skip")
    assert kept == [0, 3] and skipped == 4 and len(waves) == 2
    assert np.array_equal(waves[0], waves[1])
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert all(str(p) in logged for p in bad) and "Malformed" in logged
    with pytest.raises(BadValueError, match="on_bad_file='ignore'"):
        read_many(paths, 8000, "ignore")
    with pytest.raises(BadValueError, match="rate=0"):
        read_audio(wav, 0)


def test_silence_is_valid_audio_that_is_silent(sounds: Path, tmp_path: Path):
    recorded = read_audio(sounds / "it_IT_f_Menardi" / "silence" / "1.wav", 8000)
    assert len(recorded) == 8000 and recorded.any() and is_silent(recorded)
    sf.write(tmp_path / "zeros.flac", np.zeros((4000, 2)), 16000)
    zeros = read_audio(tmp_path / "zeros.flac", 8000)
    assert len(zeros) == 2000 and is_silent(zeros) and is_silent(torch.from_numpy(zeros))
    assert not is_silent(np.full(10, 1e-3, dtype=np.float32))


def test_fit_length_cuts_pads_and_draws_from_the_generator():
    wave = np.arange(100, dtype=np.float32)
    assert torch.equal(fit_length(wave, 10, "start"), torch.arange(10.0))
    assert torch.equal(fit_length(wave, 10, "center"), torch.arange(45.0, 55.0))
    padded = fit_length(wave[:4], 10, "random")
    assert padded.dtype == torch.float32 and torch.equal(padded[:4], torch.arange(4.0))
    assert not padded[4:].any()
    assert torch.equal(fit_length(wave, 100, "random"), torch.from_numpy(wave))

    def starts(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return [int(fit_length(wave, 10, "random", g)[0]) for _ in range(20)]

    assert starts(0) == starts(0) != starts(1)
    assert all(0 <= s <= 90 for s in starts(2)) and len(set(starts(2))) > 5
    out = fit_length(wave, 10, "start")
    out += 1  # a copy: the clip it came from is untouched
    assert wave[0] == 0
    with pytest.raises(ValueError, match="mode='middle'"):
        fit_length(wave, 10, "middle")


def test_audio_files_are_found_recursively_sorted_by_suffix(tmp_path: Path):
    for name in ["b.wav", "a/c.FLAC", "a/d.ogg", "a/e/f.gsm", "notes.txt", "g.mp3"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    found = [p.relative_to(tmp_path).as_posix() for p in audio_files(tmp_path)]
    assert found == ["a/c.FLAC", "a/d.ogg", "a/e/f.gsm", "b.wav"]
    with pytest.raises(MissingFileError, match="dataset.source.root"):
        audio_files(tmp_path / "nowhere")
