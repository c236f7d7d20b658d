"""Where recordings come from: Debian's Asterisk prompts split by speaker (no voice on both
sides), and the user's folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pretrainkit.data.audio.sources import AsteriskPrompts, AudioFolder
from pretrainkit.errors import BadValueError, MissingFileError


@pytest.fixture(scope="module")
def prompts(asterisk_root: str) -> AsteriskPrompts:
    return AsteriskPrompts(asterisk_root)


def test_the_default_split_keeps_every_speaker_on_one_side(prompts: AsteriskPrompts):
    train, test = prompts.labeled("train"), prompts.labeled("test")
    assert prompts.classes == ["es", "fr", "it"]
    assert set(train.speakers) == {"Allison", "June", "Carlo"}
    assert set(test.speakers) == {"es-co", "Armelle", "Menardi"}
    assert not set(train.speakers) & set(test.speakers)
    assert set(train.targets) == set(test.targets) == {0, 1, 2}
    # pretraining: every other voice (English and Russian too), never a test speaker
    pool = prompts.unlabeled()
    assert not set(pool.speakers) & set(test.speakers)
    assert {"Allison", "June", "Carlo", "IvrvoiceRU"} <= set(pool.speakers)
    assert (pool.targets == -1).all()
    assert not set(pool.paths) & set(test.paths)


def test_clips_are_real_speech_at_the_rate(prompts: AsteriskPrompts):
    test = prompts.labeled("test")
    assert all(w.dtype == np.float32 and w.ndim == 1 for w in test.waves[:50])
    minutes = test.seconds(prompts.rate) / 60
    assert 40 < minutes < 60  # measured: es-co 10.2, Armelle 15.1, Menardi 24.8 (less silence)
    assert all(np.abs(w).max() > 1e-3 for w in test.waves)  # silent files are dropped
    assert any(p.endswith(".gsm") for p in test.paths)  # es-co and Armelle ship raw GSM


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_speakers": ["es", "fr", "it_IT_m_Carlo"]}, "both trains and tests"),
        ({"train_speakers": ["nobody"]}, "unknown speaker folder"),
        ({"train_speakers": ["ru_RU_f_IvrvoiceRU"]}, "speaks ru, not one of"),
        ({"pretrain_speakers": ["es", "en_US_f_Allison"]}, "would leak them"),
    ],
)
def test_a_leaking_or_impossible_split_is_refused(kwargs: dict, message: str):
    with pytest.raises(BadValueError, match=message):
        AsteriskPrompts(**kwargs)


def test_a_missing_root_says_make_data(tmp_path: Path):
    with pytest.raises(MissingFileError, match="make data"):
        AsteriskPrompts(str(tmp_path)).labeled("train")


def test_audio_folder_classes_test_root_and_held_out(asterisk_root: str, tmp_path: Path):
    """Real clips of two speakers copied into class folders, one at 16 kHz stereo."""
    sources = {"it": "it_IT_m_Carlo", "fr": "fr_CA_f_June"}
    for split, count in (("train", 6), ("test", 2)):
        for name, folder in sources.items():
            (tmp_path / split / name).mkdir(parents=True)
            files = sorted((Path(asterisk_root) / folder).glob("*.wav"))
            for path in files[:count] if split == "train" else files[-count:]:
                wave, rate = sf.read(path)
                if name == "fr":  # another rate and two channels: read back mono at 8 kHz
                    wave, rate = np.stack([np.repeat(wave, 2)] * 2, axis=1), rate * 2
                sf.write(tmp_path / split / name / path.name, wave, rate)
    folder = AudioFolder(str(tmp_path / "train"), str(tmp_path / "test"), rate=8000)
    assert folder.classes == ["fr", "it"]
    train, test = folder.labeled("train"), folder.labeled("test")
    assert len(train) == 12 and len(test) == 4 and sorted(set(train.targets)) == [0, 1]
    fr = train.waves[0]
    original, _ = sf.read(sorted((Path(asterisk_root) / "fr_CA_f_June").glob("*.wav"))[0])
    assert abs(len(fr) - len(original)) <= 2  # 16 kHz stereo -> 8 kHz mono
    assert len(folder.unlabeled()) == 12
    held = AudioFolder(str(tmp_path / "train"), rate=8000, test_fraction=0.5)
    assert len(held.labeled("test")) == 6 and len(held.labeled("train")) == 6
    with pytest.raises(MissingFileError, match="has no class subfolders"):
        _ = AudioFolder(str(tmp_path / "train" / "it")).classes
