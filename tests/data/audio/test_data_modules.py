"""The audio data modules on real recordings: crops, views made on the device, the labeled
split by speaker, and the monitor set's clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pretrainkit.data.audio.labeled import LabeledAudioDataModule
from pretrainkit.data.audio.sources import AsteriskPrompts
from pretrainkit.data.audio.unlabeled import UnlabeledAudioDataModule
from pretrainkit.data.audio.views import BatchViews, Crops, GainAndMix
from pretrainkit.errors import BadValueError


@pytest.fixture(scope="module")
def prompts(asterisk_root: str) -> AsteriskPrompts:
    return AsteriskPrompts(asterisk_root)


def test_pretraining_batches_are_two_crops_then_gain_and_mix(prompts: AsteriskPrompts):
    module = UnlabeledAudioDataModule(
        prompts, Crops(2), BatchViews(GainAndMix(6.0, 0.4)), clip_seconds=1.0, batch_size=16
    )
    module.setup()
    assert len(module.train_set) + len(module.val_set) == len(prompts.unlabeled())
    views = next(iter(module.train_dataloader()))
    assert len(views) == 2 and all(v.shape == (16, 8000) for v in views)
    assert not torch.equal(views[0], views[1])  # two crops at their own offsets
    torch.manual_seed(0)
    mixed = module.on_after_batch_transfer(views, 0)
    assert [v.shape for v in mixed] == [v.shape for v in views]
    assert not torch.equal(mixed[0], views[0])


def test_gain_and_mix_arithmetic():
    waves = torch.stack([torch.ones(4), 2 * torch.ones(4)])
    torch.manual_seed(0)
    gained = GainAndMix(gain_db=6.0, mix_max=0.0)(waves)
    ratio = gained[:, 0] / waves[:, 0]
    assert ((ratio >= 10 ** (-6 / 20) - 1e-6) & (ratio <= 10 ** (6 / 20) + 1e-6)).all()
    mixed = GainAndMix(gain_db=0.0, mix_max=0.4)(waves)
    assert ((mixed >= 1.0 - 1e-6) & (mixed <= 2.0 + 1e-6)).all()  # convex mixes of the two
    assert (mixed[0] <= 1.4 + 1e-6).all() and (mixed[1] >= 1.6 - 1e-6).all()


def test_labeled_module_keeps_speakers_apart_and_crops(prompts: AsteriskPrompts):
    module = LabeledAudioDataModule(prompts, clip_seconds=1.0, label_fraction=0.05, seed=0)
    module.setup()
    train = prompts.labeled("train")
    counts = np.bincount(train.targets[module.split_indices["train"]], minlength=3)
    assert (counts >= 20).all() and counts.sum() < 100  # 5% of each language's clips
    x, y = next(iter(module.train_dataloader()))
    assert x.shape[1] == 8000 and x.dtype == torch.float32 and set(y.tolist()) <= {0, 1, 2}
    test_speakers = {prompts.labeled("test").speakers[i] for i in range(len(module.test_set))}
    assert test_speakers == {"es-co", "Armelle", "Menardi"}
    # evaluation crops are the clip's centre: the same every time
    assert torch.equal(module.test_set[0][0], module.test_set[0][0])
    probe_train, _ = module.probe_sets()["train"]
    assert torch.equal(probe_train[0][0], probe_train[0][0])  # no random crop for features


def test_bad_clip_length_is_refused(prompts: AsteriskPrompts):
    with pytest.raises(BadValueError, match="data.clip_seconds=0"):
        LabeledAudioDataModule(prompts, clip_seconds=0)
