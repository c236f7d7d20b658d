"""Where recordings come from. A source returns an unlabeled pool for pretraining and labeled
train/test splits for fine-tuning (as image and text sources do), every clip a float32 mono
waveform at the source's `rate`, with the speaker who recorded it where known, so a split can
keep speakers apart. Sources: `AsteriskPrompts` (Debian's recorded Asterisk prompts) and
`AudioFolder` (the user's files)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pretrainkit.data.audio.readers import audio_files, is_silent, read_many
from pretrainkit.data.splits import check_split
from pretrainkit.data.text.sources import held_out
from pretrainkit.errors import BadValueError, MissingFileError

log = logging.getLogger(__name__)


@dataclass
class Clips:
    """Recordings: waveforms (float32, mono, at the source's rate), class indices (-1 when
    unlabeled), the speaker of each ("" when unknown) and its file."""

    waves: list[np.ndarray]
    targets: np.ndarray
    speakers: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        self.speakers = self.speakers or [""] * len(self.waves)
        self.paths = self.paths or [""] * len(self.waves)
        if not len(self.waves) == len(self.targets) == len(self.speakers) == len(self.paths):
            raise ValueError("Clips: waves, targets, speakers and paths differ in length")

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.waves[i], int(self.targets[i])

    def subset(self, indices: Iterable[int]) -> Clips:
        idx = [int(i) for i in indices]
        return Clips(
            [self.waves[i] for i in idx],
            self.targets[idx],
            [self.speakers[i] for i in idx],
            [self.paths[i] for i in idx],
        )

    def seconds(self, rate: int) -> float:
        return sum(len(w) for w in self.waves) / rate


class AudioSource(ABC):
    """Recordings at `rate` Hz: `unlabeled()` for pretraining, `labeled(split)` for fine-tuning."""

    classes: list[str]
    rate: int

    @abstractmethod
    def unlabeled(self) -> Clips:
        """Clips for pretraining (targets -1); never a test clip."""

    @abstractmethod
    def labeled(self, split: str) -> Clips:
        """The labeled "train" or "test" split."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _load(files: Sequence[Path], rate: int, on_bad_file: str, where: str) -> list[np.ndarray]:
    """Read `files`, refusing (or, with skip, dropping and counting) unreadable ones, and
    dropping silent ones (Asterisk ships `silence/*.wav`), counted in the log."""
    waves, kept, skipped = read_many(files, rate, on_bad_file)
    if skipped:
        log.info("%s: %d unreadable file(s) skipped", where, skipped)
    out = [None] * len(files)
    for wave, i in zip(waves, kept, strict=True):
        out[i] = wave
    silent = {i for i, w in enumerate(out) if w is not None and is_silent(w)}
    if silent:
        log.info("%s: %d silent file(s) skipped", where, len(silent))
    return [None if i in silent else w for i, w in enumerate(out)]


# Debian's Asterisk prompt packages: folder under the sounds root -> (language, speaker).
# The core packs' folders name language, region, sex and speaker; the other packs put their
# speaker's prompts in a folder named after the language alone.
ASTERISK_SPEAKERS = {
    "en_US_f_Allison": ("en", "Allison"),  # asterisk-core-sounds-en-wav
    "es_MX_f_Allison": ("es", "Allison"),  # asterisk-core-sounds-es-wav: the same speaker
    "fr_CA_f_June": ("fr", "June"),  # asterisk-core-sounds-fr-wav
    "it_IT_m_Carlo": ("it", "Carlo"),  # asterisk-core-sounds-it-wav
    "ru_RU_f_IvrvoiceRU": ("ru", "IvrvoiceRU"),  # asterisk-core-sounds-ru-wav
    "it_IT_f_Menardi": ("it", "Menardi"),  # asterisk-prompt-it-menardi-wav
    "es": ("es", "es-co"),  # asterisk-prompt-es-co (raw GSM)
    "fr": ("fr", "Armelle"),  # asterisk-prompt-fr-armelle (raw GSM)
}
ASTERISK_ROOT = "/usr/share/asterisk/sounds"
ASTERISK_FIX = "run `make data` (installs Debian's asterisk prompt packages), or set {key}=<dir>"


class AsteriskPrompts(AudioSource):
    """Spoken-language identification on Debian's recorded Asterisk prompts, split by speaker:
    fine-tuning trains on `train_speakers` and is tested on `test_speakers`, other people
    speaking the same `languages`, so the score measures language, not voice. Pretraining reads
    every other speaker folder of `pretrain_speakers` (by default every speaker not tested:
    English and Russian too), never a test speaker.

    With one speaker per language in training, a classifier can also learn the voice; only the
    test speakers tell the two apart. See the README for what the score does and does not mean.
    """

    missing_hint = ASTERISK_FIX

    def __init__(
        self,
        root: str = ASTERISK_ROOT,
        languages: Sequence[str] = ("es", "fr", "it"),
        train_speakers: Sequence[str] = ("es_MX_f_Allison", "fr_CA_f_June", "it_IT_m_Carlo"),
        test_speakers: Sequence[str] = ("es", "fr", "it_IT_f_Menardi"),
        pretrain_speakers: Sequence[str] | None = None,
        rate: int = 8000,
        on_bad_file: str = "skip",  # Debian's ru pack ships an empty is.wav
    ) -> None:
        self.root, self.rate, self.on_bad_file = Path(root).expanduser(), rate, on_bad_file
        self.classes = list(languages)
        self.train_speakers, self.test_speakers = list(train_speakers), list(test_speakers)
        unknown = [
            s
            for s in [*self.train_speakers, *self.test_speakers, *(pretrain_speakers or [])]
            if s not in ASTERISK_SPEAKERS
        ]
        if unknown:
            raise BadValueError(
                f"dataset.source: unknown speaker folder(s) {', '.join(unknown)}; the prompt "
                f"packs' folders are {', '.join(ASTERISK_SPEAKERS)}."
            )
        shared = set(self.train_speakers) & set(self.test_speakers)
        if shared:
            raise BadValueError(
                f"dataset.source: {', '.join(sorted(shared))} both trains and tests; a speaker "
                "on both sides would score voice recognition. Keep the lists disjoint."
            )
        for speaker in [*self.train_speakers, *self.test_speakers]:
            if ASTERISK_SPEAKERS[speaker][0] not in self.classes:
                raise BadValueError(
                    f"dataset.source: {speaker} speaks {ASTERISK_SPEAKERS[speaker][0]}, not one "
                    f"of dataset.source.languages={self.classes}."
                )
        self.pretrain_speakers = (
            [s for s in ASTERISK_SPEAKERS if s not in self.test_speakers]
            if pretrain_speakers is None
            else list(pretrain_speakers)
        )
        if set(self.pretrain_speakers) & set(self.test_speakers):
            raise BadValueError(
                "dataset.source.pretrain_speakers includes a test speaker; pretraining on the "
                "test voices would leak them. Drop it."
            )

    def _speaker(self, folder: str) -> Clips:
        path = self.root / folder
        if not path.is_dir():
            raise MissingFileError(
                f"{path}: no such folder; {ASTERISK_FIX.format(key='dataset.source.root')}."
            )
        files = audio_files(path)
        waves = _load(files, self.rate, self.on_bad_file, str(path))
        keep = [i for i, w in enumerate(waves) if w is not None]
        language, speaker = ASTERISK_SPEAKERS[folder]
        target = self.classes.index(language) if language in self.classes else -1
        return Clips(
            [waves[i] for i in keep],  # type: ignore[misc]
            np.full(len(keep), target),
            [speaker] * len(keep),
            [str(files[i]) for i in keep],
        )

    @cached_property
    def _by_folder(self) -> dict[str, Clips]:
        folders = dict.fromkeys(
            [*self.pretrain_speakers, *self.train_speakers, *self.test_speakers]
        )
        return {folder: self._speaker(folder) for folder in folders}

    def _join(self, folders: Sequence[str]) -> Clips:
        parts = [self._by_folder[f] for f in folders]
        return Clips(
            [w for p in parts for w in p.waves],
            np.concatenate([p.targets for p in parts]) if parts else np.zeros(0),
            [s for p in parts for s in p.speakers],
            [q for p in parts for q in p.paths],
        )

    def unlabeled(self) -> Clips:
        clips = self._join(self.pretrain_speakers)
        return Clips(clips.waves, np.full(len(clips), -1), clips.speakers, clips.paths)

    def labeled(self, split: str) -> Clips:
        check_split(split)
        return self._join(self.train_speakers if split == "train" else self.test_speakers)


class AudioFolder(AudioSource):
    """Your recordings (.wav, .flac, .ogg, raw 8 kHz .gsm; any rate and channel count, read
    mono at `rate`). Pretraining reads every file under `root`, recursively; fine-tuning reads
    one subfolder of `root` per class, tested on `test_root` (the same class subfolders) or on
    a fixed stratified `test_fraction` of the files (`split_seed`).

    A split by file puts one speaker's recordings on both sides whenever a speaker recorded
    more than one: the test score then rewards recognising voices. Put other speakers in
    `test_root` to measure what you mean to.
    """

    missing_hint = "set {key}=<a folder of audio files>"

    def __init__(
        self,
        root: str,
        test_root: str | None = None,
        rate: int = 16000,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        on_bad_file: str = "error",
    ) -> None:
        self.root = Path(root).expanduser()
        self.test_root = None if test_root is None else Path(test_root).expanduser()
        self.rate, self.on_bad_file = rate, on_bad_file
        self.test_fraction, self.split_seed = test_fraction, split_seed

    @cached_property
    def classes(self) -> list[str]:  # type: ignore[override]
        folders = (
            sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
        )
        if not folders:
            raise MissingFileError(
                f"labeled audio folder {self.root} has no class subfolders; put each class's "
                "files in a subfolder named after it."
            )
        return folders

    def unlabeled(self) -> Clips:
        files = audio_files(self.root)
        waves = _load(files, self.rate, self.on_bad_file, str(self.root))
        keep = [i for i, w in enumerate(waves) if w is not None]
        if not keep:
            raise MissingFileError(f"no readable, non-silent audio under {self.root}.")
        return Clips(
            [waves[i] for i in keep], np.full(len(keep), -1), [], [str(files[i]) for i in keep]
        )  # type: ignore[misc]

    def _classes_under(self, root: Path) -> Clips:
        waves, targets, paths = [], [], []
        for target, name in enumerate(self.classes):
            files = audio_files(root / name) if (root / name).is_dir() else []
            for path, wave in zip(
                files, _load(files, self.rate, self.on_bad_file, str(root / name)), strict=True
            ):
                if wave is not None:
                    waves.append(wave)
                    targets.append(target)
                    paths.append(str(path))
        if not waves:
            raise MissingFileError(f"no readable audio in the class subfolders of {root}.")
        return Clips(waves, np.asarray(targets), [], paths)

    @cached_property
    def _splits(self) -> dict[str, Clips]:
        train = self._classes_under(self.root)
        if self.test_root is not None:
            return {"train": train, "test": self._classes_under(self.test_root)}
        rest, test = held_out(
            train.targets, self.classes, self.test_fraction, self.split_seed, self.root
        )
        return {"train": train.subset(rest), "test": train.subset(test)}

    def labeled(self, split: str) -> Clips:
        check_split(split)
        return self._splits[split]
