"""BERT's dynamic masking: its statistics, whole words, and the loss against HF's own head."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers import make_cfg

from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.tasks.mlm import IGNORE, mask_tokens

MASK = 4
VOCAB = 1000


def corpus_like_ids(batch: int = 64, length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids with a [CLS] (2) first, real tokens after, and the last quarter of odd rows padded."""
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB, (batch, length), generator=gen)
    ids[:, 0] = 2
    attention = torch.ones_like(ids)
    attention[1::2, -length // 4 :] = 0
    ids[attention == 0] = 0
    candidates = attention.bool() & (ids >= 5)
    return ids, candidates


def test_80_10_10_statistics_and_only_candidates_are_chosen():
    ids, candidates = corpus_like_ids()
    replacement = torch.arange(5, VOCAB)
    corrupted, labels = mask_tokens(
        ids, candidates, MASK, replacement, generator=torch.Generator().manual_seed(0)
    )
    chosen = labels != IGNORE
    assert not (chosen & ~candidates).any()  # never [CLS], never padding
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])  # what is not chosen is untouched
    n = chosen.sum().item()
    assert n / candidates.sum().item() == pytest.approx(0.15, abs=0.01)
    masked = (corrupted[chosen] == MASK).float().mean().item()
    kept = (corrupted[chosen] == ids[chosen]).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1, abs=0.02)  # a random pick equal to the original counts here
    assert 1 - masked - kept == pytest.approx(0.1, abs=0.02)  # replaced by another token
    assert (corrupted[chosen & (corrupted != MASK)] >= 5).all()  # replacements are never special


def test_masking_probability_sets_the_share_of_chosen_tokens():
    ids, candidates = corpus_like_ids()
    _, labels = mask_tokens(ids, candidates, MASK, torch.arange(5, VOCAB), probability=0.4)
    assert (labels != IGNORE).sum() / candidates.sum() == pytest.approx(0.4, abs=0.015)


def test_whole_word_masking_chooses_every_piece_of_a_word_together():
    ids, candidates = corpus_like_ids()
    continuation = torch.zeros(VOCAB, dtype=torch.bool)
    continuation[500:] = True  # ids >= 500 play "##piece" continuations
    _, labels = mask_tokens(
        ids,
        candidates,
        MASK,
        torch.arange(5, VOCAB),
        continuation=continuation,
        generator=torch.Generator().manual_seed(0),
    )
    chosen = labels != IGNORE
    starts = candidates & ~continuation[ids]
    word = starts.long().cumsum(1)
    checked = 0
    for row in range(len(ids)):
        for w in word[row][starts[row]].tolist():
            pieces = chosen[row][(word[row] == w) & candidates[row]]
            assert pieces.all() or not pieces.any()
            checked += len(pieces) > 1
    assert checked > 100  # multi-piece words were there to test
    # words, not pieces, are drawn at 15%
    drawn = chosen & starts
    assert drawn.sum() / starts.sum() == pytest.approx(0.15, abs=0.015)


@pytest.mark.parametrize(
    ("override", "refusal"),
    [
        ("task.mask_probability=0", "task.mask_probability=0 is outside (0, 1)"),
        ("task.mask_token_fraction=-0.1", "task.mask_token_fraction=-0.1 is outside [0, 1]"),
        ("task.random_token_fraction=1.5", "task.random_token_fraction=1.5 is outside [0, 1]"),
    ],
)
def test_masking_shares_outside_their_range_are_refused_by_the_config_check(
    override: str, refusal: str, tmp_path: Path
):
    """MLM's signature holds each share's range; the config check reads it before any work."""
    cfg = make_cfg("pretrain", ["task=mlm", override], tmp_path)
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        validate(cfg, PretrainConfig)


def test_settings_mlm_cannot_use_are_user_errors(tmp_path: Path):
    """Refused as user errors (one line, no traceback at the entry point), not bare bugs."""
    from hydra.utils import instantiate

    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.errors import user_error

    shares = ["task.mask_token_fraction=0.9", "task.random_token_fraction=0.2"]
    cfg = make_cfg(
        "pretrain", ["task=mlm", "backbone.config.num_hidden_layers=1", *shares], tmp_path
    )
    with pytest.raises(Exception, match="must be <= 1") as err:
        instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    assert user_error(err.value) is not None
    cfg = make_cfg("pretrain", ["task=mlm"], tmp_path)
    with pytest.raises(Exception, match="task=mlm needs a text backbone") as err:
        instantiate(cfg.task, backbone=SmallCNN())
    assert user_error(err.value) is not None
