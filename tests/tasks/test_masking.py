"""SpanBERT's span masking: its budget, whole-word contiguous spans, the span lengths'
distribution, per-span replacement, reproducibility, and the MLM options that select it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers import make_cfg
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.errors import BadValueError
from pretrainkit.tasks.masking import IGNORE, mask_spans, sample_spans, span_lengths

MASK, VOCAB, CLS, SEP = 4, 1000, 2, 3
FORTUNES = Path("/usr/share/games/fortunes")


def batch(
    rows: int = 64, length: int = 128, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids opened by [CLS], a [SEP] mid-row, the last quarter of odd rows padded; ids >= 500
    play word continuations ("##piece"): words of 2 pieces on average. Returns the ids, the
    candidates (real, non-special tokens) and the continuation table."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, length), generator=gen)
    ids[:, 0], ids[:, length // 2] = CLS, SEP
    attention = torch.ones_like(ids)
    attention[1::2, -length // 4 :] = 0
    ids[attention == 0] = 0
    continuation = torch.zeros(VOCAB, dtype=torch.bool)
    continuation[500:] = True
    return ids, attention.bool() & (ids >= 5), continuation


def words_of(ids: torch.Tensor, candidates: torch.Tensor, continuation: torch.Tensor):
    starts = candidates & ~continuation[ids]
    return starts, starts.long().cumsum(1) * candidates  # (B, T): 1-based word; 0: none


def spans(span: torch.Tensor) -> list[tuple[int, list[int]]]:
    """(row, the positions of one span) for every span of a (B, T) span-id tensor."""
    out = []
    for row in range(len(span)):
        for sid in span[row].unique().tolist():
            if sid >= 0:
                out.append((row, (span[row] == sid).nonzero()[:, 0].tolist()))
    return out


def test_span_lengths_follow_spanberts_truncated_geometric():
    lengths = span_lengths(200_000, 0.2, 10, torch.Generator().manual_seed(0))
    assert lengths.min() == 1 and lengths.max() == 10
    pmf = torch.tensor([0.2 * 0.8**k for k in range(10)], dtype=torch.float64)
    pmf /= pmf.sum()  # renormalised over 1..10
    freq = torch.bincount(lengths, minlength=11)[1:].double() / len(lengths)
    torch.testing.assert_close(freq, pmf, atol=0.003, rtol=0)
    expected = (pmf * torch.arange(1, 11)).sum().item()
    assert expected == pytest.approx(3.797, abs=1e-3)  # the paper's "mean 3.8 words"
    assert lengths.double().mean().item() == pytest.approx(expected, abs=0.02)
    assert (span_lengths(100, 1.0, 10) == 1).all()  # p=1: single words


@pytest.mark.parametrize("probability", [0.15, 0.3])
def test_masked_share_is_close_to_the_target_over_many_draws(probability: float):
    ids, candidates, continuation = batch()
    gen = torch.Generator().manual_seed(0)
    chosen = sum(
        (mask_spans(ids, candidates, MASK, torch.arange(5, VOCAB), probability,
                    continuation=continuation, generator=gen)[1] != IGNORE).sum()
        for _ in range(20)
    )  # fmt: skip
    assert chosen / (20 * candidates.sum()) == pytest.approx(probability, abs=0.01)


def test_spans_are_contiguous_whole_words_and_never_special():
    ids, candidates, continuation = batch()
    starts, word = words_of(ids, candidates, continuation)
    span = sample_spans(candidates, starts, generator=torch.Generator().manual_seed(0))
    assert ((span >= 0) <= candidates).all()  # never [CLS], [SEP] or padding
    found = spans(span)
    assert len(found) > 3 * len(ids)
    for row, positions in found:
        first, last = positions[0], positions[-1]
        between = candidates[row, first : last + 1]
        assert positions == [first + i for i in between.nonzero()[:, 0].tolist()]  # contiguous
        assert starts[row, first]  # opens at a word's first piece
        words = word[row, positions].unique()
        assert torch.equal(span[row][torch.isin(word[row], words)].unique(), span[row, [first]])
        assert len(words) <= 10  # max_span words at most
    # every word is masked whole or not at all
    per_word = torch.zeros(len(ids), ids.shape[1] + 1).scatter_reduce(
        1, word, (span >= 0).float(), "amax", include_self=False
    )
    assert torch.equal(per_word.gather(1, word).bool() & candidates, span >= 0)


def test_realised_span_lengths_are_close_to_the_drawn_ones():
    """One-piece words in long rows: a span is cut short only where it meets a masked word,
    and a row's last one at the budget; that takes ~0.3 words off the drawn mean of 3.8
    (measured: 3.35-3.55 over 6 seeds, ~1,060 spans each)."""
    gen = torch.Generator().manual_seed(0)
    candidates = torch.ones(48, 512, dtype=torch.bool)  # < 32,768 items: no threads to start
    span = sample_spans(candidates, candidates, 0.15, generator=gen)
    lengths = torch.tensor([len(p) for _, p in spans(span)], dtype=torch.float64)
    assert lengths.min() == 1 and lengths.max() == 10
    assert 3.2 < lengths.mean().item() < 3.8


def test_each_span_is_replaced_as_a_unit_80_10_10():
    ids, candidates, continuation = batch(rows=250)  # (B, T + 1) < 32,768: no threads
    gen = torch.Generator().manual_seed(0)
    corrupted, labels = mask_spans(
        ids, candidates, MASK, torch.arange(5, VOCAB), 0.15, continuation=continuation,
        generator=gen,
    )  # fmt: skip
    chosen = labels != IGNORE
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])  # what is not chosen is untouched
    starts, _ = words_of(ids, candidates, continuation)
    span = sample_spans(candidates, starts, generator=torch.Generator().manual_seed(0))
    assert torch.equal(span >= 0, chosen)  # mask_spans drew these spans first
    kinds = []
    for row, positions in spans(span):
        masked = corrupted[row, positions] == MASK
        assert masked.all() or not masked.any()  # [MASK] over the whole span or none of it
        kept = torch.equal(corrupted[row, positions], ids[row, positions])
        kinds.append("mask" if masked.all() else "kept" if kept else "random")
    share = {k: kinds.count(k) / len(kinds) for k in ("mask", "random", "kept")}
    assert share["mask"] == pytest.approx(0.8, abs=0.03)
    assert share["random"] == pytest.approx(0.1, abs=0.025)
    assert share["kept"] == pytest.approx(0.1, abs=0.025)


def test_span_masking_is_deterministic_under_a_seed():
    ids, candidates, continuation = batch()

    def draw(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return mask_spans(ids, candidates, MASK, torch.arange(5, VOCAB),
                          continuation=continuation, generator=gen)  # fmt: skip

    (a, la), (b, lb), (_, lc) = draw(0), draw(0), draw(1)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(la, lc)


def test_rows_without_words_mask_nothing():
    candidates = torch.zeros(3, 16, dtype=torch.bool)
    candidates[1, 3:] = True
    starts = torch.zeros_like(candidates)  # row 1: only continuation pieces, no word start
    assert (sample_spans(candidates, starts) == -1).all()


@pytest.mark.slow  # ~13 s of config composition and task builds
def test_mlm_masking_options_reach_the_task(tmp_path: Path):
    def task(*overrides: str):
        cfg = make_cfg("pretrain", ["task=mlm", "backbone=bert_tiny", *overrides], tmp_path)
        validate(cfg, PretrainConfig)
        return instantiate(cfg.task, backbone=instantiate(cfg.backbone, vocab_size=100))

    assert task().masking == "token"
    spanning = task("task.masking=span", "task.span_p=0.3", "task.max_span=5")
    assert (spanning.masking, spanning.span_p, spanning.max_span) == ("span", 0.3, 5)
    assert task("task.whole_word=true").masking == "whole_word"  # the older spelling
    assert task("task.masking=whole_word").masking == "whole_word"
    with pytest.raises(InstantiationException, match="spans are whole words already") as err:
        task("task.masking=span", "task.whole_word=true")
    assert isinstance(err.value.__cause__, BadValueError)  # a user error: one line, no traceback
    refusals = {
        "task.masking=spans": "task.masking=spans is not one of token, whole_word, span",
        "task.span_p=0": "task.span_p=0 is outside (0, 1]",
        "task.max_span=0": "task.max_span=0 must be >= 1",
    }
    for override, refusal in refusals.items():
        with pytest.raises(ConfigError, match=re.escape(refusal)):
            task(override)


def test_span_masking_on_fortunes_masks_whole_wordpiece_words(tmp_path: Path):
    if not (FORTUNES / "computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")
    overrides = ["task=mlm", "backbone=bert_tiny", "task.masking=span", "data.block_size=64"]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    dm = instantiate(cfg.data)
    dm.setup()
    model = instantiate(cfg.task, backbone=instantiate(cfg.backbone, **dm.backbone_kwargs))
    model.use_tokenizer(dm.tokenizer)
    data = next(iter(dm.train_dataloader()))
    ids = data["input_ids"]
    candidates = data["attention_mask"].bool() & ~model.special[ids]
    torch.manual_seed(0)
    corrupted, labels = model.mask(ids, candidates)
    chosen = labels != IGNORE
    assert not (chosen & ~candidates).any()
    assert chosen.sum() / candidates.sum() == pytest.approx(0.15, abs=0.02)
    pieces = dm.tokenizer.convert_ids_to_tokens(ids.flatten().tolist())
    follows = torch.tensor([p.startswith("##") for p in pieces]).view(ids.shape)
    # a span never starts or ends inside a word: a chosen piece's continuation is chosen too
    assert not (chosen[:, :-1] & follows[:, 1:] & candidates[:, 1:] & ~chosen[:, 1:]).any()
    assert not (~chosen[:, :-1] & candidates[:, :-1] & follows[:, 1:] & chosen[:, 1:]).any()
    loss = model.token_loss(data).loss
    assert torch.isfinite(loss)
