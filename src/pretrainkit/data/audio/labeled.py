"""The audio fine-tuning data module: a stratified labeled subset of clips, validation, test."""

from __future__ import annotations

import numpy as np

from pretrainkit.data.audio.sources import AudioSource, Clips
from pretrainkit.data.audio.unlabeled import clip_samples
from pretrainkit.data.audio.views import Crops
from pretrainkit.data.loader import LabeledLoaders
from pretrainkit.data.splits import check_label_budget, train_val_indices
from pretrainkit.data.transformed import Transformed
from pretrainkit.errors import BadValueError


class LabeledAudioDataModule(LabeledLoaders):
    """Labeled clips for fine-tuning, with the image module's label semantics (`val_fraction` of
    every class held out first, then `label_fraction` of every class or `labels_per_class`,
    stratified and seeded); `test/*` from the source's test split — for `AsteriskPrompts` other
    speakers than training's. Training clips are cut at a random offset to `clip_seconds`,
    evaluation clips at their centre (once, cached).

    The validation clips come from the training speakers: they choose lrs on voices the model
    has heard, so they can prefer a model that recognises voices; only the test split says how
    it does on new ones (README: what the score means)."""

    def __init__(
        self,
        source: AudioSource,
        clip_seconds: float = 2.0,
        label_fraction: float | None = 1.0,
        labels_per_class: int | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
        min_steps_per_epoch: int = 10,
    ) -> None:
        super().__init__()
        label_fraction = check_label_budget(label_fraction, labels_per_class, val_fraction)
        if batch_size < 1:
            raise BadValueError(f"data.batch_size={batch_size} must be >= 1.")
        if min_steps_per_epoch < 0:
            raise BadValueError(f"data.min_steps_per_epoch={min_steps_per_epoch} must be >= 0.")
        self.source, self.samples = source, clip_samples(clip_seconds, source.rate)
        self.label_fraction, self.labels_per_class = label_fraction, labels_per_class
        self.val_fraction, self.seed = val_fraction, seed
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.min_steps_per_epoch = min_steps_per_epoch
        self.train_set: Transformed | None = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def _split(self) -> tuple[Clips, np.ndarray, np.ndarray]:
        train = self.source.labeled("train")
        chosen, val = train_val_indices(
            train.targets, self.val_fraction, self.seed, self.label_fraction, self.labels_per_class
        )
        return train, chosen, val

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, chosen, val = self._split()
        test = self.source.labeled("test")
        crop = Crops(1, "random").bind(self.samples)
        center = Crops(1, "center").bind(self.samples)
        self.train_set = Transformed(train, crop, chosen)
        self.val_set = Transformed(train, center, val, cache=True)
        self.test_set = Transformed(test, center, cache=True)
        self.eval_train = Transformed(train, center, chosen, cache=True)
        self.split_indices = {"train": chosen, "val": val, "test": np.arange(len(test))}

    def probe_sets(self) -> dict:
        sets = super().probe_sets()
        sets["train"] = (self.eval_train, self.split_indices["train"])  # no random crops
        return sets
