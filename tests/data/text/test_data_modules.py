"""The text data modules end to end on fortunes: packed pretraining blocks, labeled batches."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from pretrainkit.data.text import tokenizer as tokenizer_module
from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.fortunes import Fortunes
from pretrainkit.data.text.labeled import LabeledTextDataModule
from pretrainkit.data.text.tokenizer import load_tokenizer
from pretrainkit.data.text.unlabeled import TextDataModule


def test_pretraining_module_on_fortunes(fortunes: Fortunes, tmp_path: Path):
    kwargs = {"vocab_size": 2000, "batch_size": 16, "cache_dir": str(tmp_path / "cache")}
    dm = TextDataModule(fortunes, output_dir=str(tmp_path / "run"), **kwargs)
    dm.setup("fit")
    train, val = dm.train_set, dm.val_set
    assert train is not None and val is not None
    tokens = train.tokens
    # train and val split the stream at a document boundary, and share no position
    assert train.start == 0 and train.stop == val.start and val.stop == len(tokens)
    assert tokens[train.stop - 1] == 3 and abs(val.start / len(tokens) - 0.95) < 0.01
    assert dm.backbone_kwargs == {
        "vocab_size": 2000,
        "pad_token_id": 0,
        "bos_token_id": None,
        "eos_token_id": None,
    }

    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (16, 128)
    assert (batch["input_ids"][:, 0] == 2).all()  # every block opens with [CLS]
    assert len(dm.train_dataloader()) == len(train) // 16  # drop_last
    val_batches = list(dm.val_dataloader())
    assert sum(len(b["input_ids"]) for b in val_batches) == len(val)

    saved = load_tokenizer(tmp_path / "run" / "tokenizer")  # saved with the run
    assert saved.backend_tokenizer.to_str() == dm.tokenizer.backend_tokenizer.to_str()

    # Same settings again: the cached tokenizer and token ids, nothing trained or tokenised.
    (bin_path,) = (tmp_path / "cache").glob("tokens-*.bin")
    mtime = bin_path.stat().st_mtime_ns
    again = TextDataModule(fortunes, **kwargs)
    with (
        mock.patch.object(tokenizer_module, "train_tokenizer") as train_tokenizer,
        mock.patch.object(again.source, "documents") as documents,
    ):
        again.setup("fit")
    train_tokenizer.assert_not_called()
    documents.assert_not_called()
    assert bin_path.stat().st_mtime_ns == mtime
    assert len(again.train_set) == len(train)  # type: ignore[arg-type]


def test_pretraining_with_a_given_bpe_tokenizer(
    fortunes: Fortunes, bpe, tmp_path: Path, zippy: list[str]
):
    bpe.save_pretrained(tmp_path / "bpe")
    corpus = tmp_path / "zippy.txt"
    corpus.write_text("\n".join(zippy))
    dm = TextDataModule(
        TextFiles(str(corpus)),
        tokenizer=str(tmp_path / "bpe"),
        block_size=32,
        batch_size=4,
        val_fraction=0.0,
        cache_dir=str(tmp_path / "cache"),
    )
    dm.setup()
    assert dm.val_set is None and dm.val_dataloader() == []
    block = dm.train_set[0]  # type: ignore[index]
    assert block["input_ids"][:5].tolist() == bpe(zippy[0])["input_ids"][:5]  # no prefix
    assert dm.backbone_kwargs == {
        "vocab_size": 2000,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }


def test_pretraining_settings_are_checked(fortunes: Fortunes, wordpiece_dir: Path, tmp_path):
    with pytest.raises(ValueError, match="data.block_size=1 must be >= 2"):
        TextDataModule(fortunes, block_size=1)
    with pytest.raises(ValueError, match=r"data.val_fraction=1.0 must be in \[0, 1\)"):
        TextDataModule(fortunes, val_fraction=1.0)
    with pytest.raises(ValueError, match="data.tokenizer_kind='char'.*wordpiece \\| bpe"):
        TextDataModule(fortunes, tokenizer_kind="char")
    corpus = tmp_path / "zippy.txt"
    corpus.write_text("\n".join(fortunes.entries("zippy")))
    dm = TextDataModule(
        TextFiles(str(corpus)),
        tokenizer=str(wordpiece_dir),
        block_size=512,
        batch_size=4096,
        cache_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match="fewer than data.batch_size=4096.*data.block_size"):
        dm.setup()


def labeled(wordpiece_dir: Path, fortunes: Fortunes, tmp_path: Path, **kwargs):
    return LabeledTextDataModule(
        fortunes, tokenizer=str(wordpiece_dir), cache_dir=str(tmp_path), **kwargs
    )


def test_label_fraction_and_labels_per_class(fortunes, wordpiece_dir: Path, tmp_path: Path):
    train_counts = np.bincount(fortunes.labeled("train").targets)
    dm = labeled(wordpiece_dir, fortunes, tmp_path, label_fraction=0.1)
    dm.setup()
    pool = train_counts - np.round(0.1 * train_counts).astype(int)  # after the val hold-out
    assert np.bincount(dm.train_set.targets).tolist() == np.round(0.1 * pool).astype(int).tolist()
    assert dm.num_classes == 8 and len(dm.test_set) == len(fortunes.labeled("test"))

    dm = labeled(wordpiece_dir, fortunes, tmp_path, labels_per_class=5)
    assert dm.num_labeled == 40
    assert np.bincount(dm.train_set.targets).tolist() == [5] * 8  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"label_fraction=1.5 is outside \(0, 1\]"):
        labeled(wordpiece_dir, fortunes, tmp_path, label_fraction=1.5)


def test_labeled_batches_are_padded_per_batch(fortunes, wordpiece_dir: Path, tmp_path: Path):
    dm = labeled(wordpiece_dir, fortunes, tmp_path, labels_per_class=5, batch_size=8)
    inputs, labels = next(iter(dm.test_dataloader()))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    lengths = mask.sum(1)
    assert ids.shape == mask.shape == (8, int(lengths.max())) and ids.dtype == torch.long
    test = fortunes.labeled("test")
    encoded = [dm.tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in test.texts]
    shortest = np.argsort([len(e) for e in encoded], kind="stable")[:8]  # eval: by length
    assert labels.dtype == torch.long and labels.tolist() == test.targets[shortest].tolist()
    assert int(lengths.max()) <= 128 and (ids[:, 0] == 2).all()  # [CLS] first
    for row, n in zip(ids, lengths.tolist(), strict=True):
        assert row[n - 1] == 3 and (row[n:] == 0).all()  # [SEP] last, then [PAD]
    assert ids[0, : lengths[0]].tolist() == encoded[shortest[0]]
    assert sorted(dm.test_set.targets.tolist()) == sorted(test.targets.tolist())  # all there
    assert len(dm.train_dataloader()) == 5  # 40 labels, 8 a batch, drop_last


def test_from_scratch_tokenizer_trains_on_train_texts_only(fortunes, tmp_path: Path):
    dm = LabeledTextDataModule(
        fortunes,
        tokenizer_kind="bpe",
        vocab_size=500,
        labels_per_class=2,
        max_length=16,
        cache_dir=str(tmp_path / "cache"),
        output_dir=str(tmp_path / "run"),
    )
    seen: list[str] = []
    real_train = tokenizer_module.train_tokenizer

    def spy(documents, **options):
        seen.extend(documents())
        return real_train(documents, **options)

    with mock.patch.object(tokenizer_module, "train_tokenizer", spy):
        inputs, _ = next(iter(dm.train_dataloader()))
    assert seen == fortunes.labeled("train").texts
    assert (tmp_path / "run/tokenizer/tokenizer.json").is_file()
    assert len(dm.tokenizer) == 500 and inputs["input_ids"].shape[1] <= 16
    lengths = inputs["attention_mask"].sum(1)
    assert all(row[n - 1] == 0 for row, n in zip(inputs["input_ids"], lengths, strict=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_labeled_splits_are_the_texts_a_fine_tune_of_the_same_seed_encodes(
    fortunes, wordpiece_dir: Path, tmp_path: Path, seed: int
):
    """What a classical baseline fits on (`labeled_splits`, no tokenizer) is what the neural
    fine-tune of the same seed trains, validates and tests on."""
    train = fortunes.labeled("train")
    raw = labeled(wordpiece_dir, fortunes, tmp_path, label_fraction=0.05, seed=seed)
    splits = raw.labeled_splits()
    assert raw._tokenizer is None  # nothing was tokenised for them
    dm = labeled(wordpiece_dir, fortunes, tmp_path, label_fraction=0.05, seed=seed)
    dm.setup()
    for name in ("train", "val"):
        indices = dm.split_indices[name]
        assert splits[name].texts == [train.texts[i] for i in indices]
        assert splits[name].targets.tolist() == train.targets[indices].tolist()
    assert splits["train"].targets.tolist() == dm.train_set.targets.tolist()
    assert sorted(splits["val"].targets.tolist()) == sorted(dm.val_set.targets.tolist())
    assert splits["test"].texts == fortunes.labeled("test").texts
    assert len(splits["train"]) == dm.num_labeled == 218
