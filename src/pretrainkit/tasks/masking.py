"""What masked language modelling hides: BERT's tokens or whole words, and SpanBERT's spans.

Pure functions on a batch of token ids, drawn afresh every step on the batch's device; the
`generator` (optional) makes a draw reproducible.
"""

from __future__ import annotations

import torch

IGNORE = -100  # the label of tokens that are not predicted


def mask_tokens(
    input_ids: torch.Tensor,
    candidates: torch.Tensor,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    probability: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
    continuation: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's dynamic masking, drawn afresh for every batch.

    Each candidate token (a real, non-special token) is chosen with `probability`; a chosen
    token becomes `[MASK]` with `mask_fraction`, a random token from `replacement_ids` with
    `random_fraction`, and stays itself otherwise. With `continuation` (a per-vocabulary table
    of word-continuation pieces) whole words are chosen: a word's pieces share one draw.

    Returns the corrupted ids and the labels (the original id where chosen, else -100).
    """
    shape, device = input_ids.shape, input_ids.device
    draw = torch.rand(shape, device=device, generator=generator)  # (B, T)
    if continuation is not None:
        starts = candidates & ~continuation[input_ids]  # (B, T): first piece of each word
        word = starts.long().cumsum(1)  # (B, T): index of the word each piece belongs to
        per_word = torch.ones(shape[0], shape[1] + 1, device=device)  # word 0: before any start
        per_word.scatter_(1, word * starts, torch.where(starts, draw, 1.0))
        draw = per_word.gather(1, word)  # every piece takes its word's draw
    chosen = candidates & (draw < probability)
    action = torch.rand(shape, device=device, generator=generator)  # (B, T)
    corrupted = corrupt(
        input_ids, chosen, action, mask_token_id, replacement_ids, mask_fraction, random_fraction,
        generator,
    )  # fmt: skip
    return corrupted, torch.where(chosen, input_ids, IGNORE)


def corrupt(
    input_ids: torch.Tensor,
    chosen: torch.Tensor,
    action: torch.Tensor,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    mask_fraction: float,
    random_fraction: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The chosen tokens replaced by `[MASK]` where `action` < `mask_fraction`, by a random
    token of `replacement_ids` where it is in the next `random_fraction`, kept otherwise."""
    to_mask = chosen & (action < mask_fraction)
    to_random = chosen & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    pick = torch.randint(
        len(replacement_ids), input_ids.shape, device=input_ids.device, generator=generator
    )
    corrupted = torch.where(to_mask, mask_token_id, input_ids)
    return torch.where(to_random, replacement_ids.to(input_ids.device)[pick], corrupted)


def span_lengths(
    n: int,
    p: float = 0.2,
    max_span: int = 10,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """(n,) span lengths in words: geometric with success probability `p` over 1..`max_span`,
    renormalised there, as SpanBERT's code draws them (mean 3.8 words at p=0.2, max 10; the
    paper calls this clipping)."""
    lengths = torch.arange(1, max_span + 1, device=device, dtype=torch.float64)
    cdf = (p * (1 - p) ** (lengths - 1)).cumsum(0)  # (max_span,)
    u = torch.rand(n, device=device, generator=generator, dtype=torch.float64) * cdf[-1]
    return (torch.searchsorted(cdf, u, right=True) + 1).clamp_max(max_span)


def sample_spans(
    candidates: torch.Tensor,
    starts: torch.Tensor,
    probability: float = 0.15,
    p: float = 0.2,
    max_span: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SpanBERT's span selection: the span each token is masked in, (B, T), -1 for none.

    Words are runs of candidate tokens, each opened by a `starts` token; pieces before a row's
    first start are no word and never masked. Spans are drawn one at a time per row until
    `probability` of its candidate tokens are masked: a length in words (`span_lengths`) and a
    first word drawn uniformly; a span stops short of a word already masked, and of the budget
    (its first word is always taken, so a row overshoots by less than one word). A span's id
    is the index (>= 1) of its first word; spans never overlap.
    """
    b, t = candidates.shape
    device = candidates.device
    word = starts.long().cumsum(1) * candidates  # (B, T): 1-based word of each piece; 0: none
    size = torch.zeros(b, t + 1, device=device).scatter_add_(1, word, candidates.float())
    size[:, 0] = 0  # (B, T + 1): pieces per word
    n_words = (starts & candidates).sum(1)  # (B,)
    budget = (probability * candidates.sum(1)).round()  # (B,) tokens to mask
    position = torch.arange(t + 1, device=device)  # word indices
    span_of = torch.full((b, t + 1), -1, device=device)  # (B, T + 1): span of each word
    count = torch.zeros(b, device=device)
    for k in range(int(4 * probability * t) + 8):  # each kept span adds >= 1 token
        open_rows = count < budget  # (B,)
        if k % 8 == 0 and not bool(open_rows.any()):  # a host sync every 8 spans, not each
            break
        length = span_lengths(b, p, max_span, generator, device)  # (B,)
        first = 1 + (torch.rand(b, device=device, generator=generator) * n_words).long()
        taken = span_of >= 0
        last = torch.minimum(first + length - 1, n_words)  # (B,): the span's last word at most
        in_span = (position >= first[:, None]) & (position <= last[:, None])
        run = in_span & (in_span & taken).cumsum(1).eq(0)  # up to the first masked word
        fits = count[:, None] + (size * run).cumsum(1) <= budget[:, None]
        keep = open_rows & (n_words > 0) & ~taken.gather(1, first[:, None])[:, 0]
        take = run & (fits | (position == first[:, None])) & keep[:, None]  # (B, T + 1)
        span_of = torch.where(take, first[:, None], span_of)
        count = count + (size * take).sum(1)
    return torch.where(candidates, span_of.gather(1, word), -1)


def mask_spans(
    input_ids: torch.Tensor,
    candidates: torch.Tensor,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    probability: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
    continuation: torch.Tensor | None = None,
    span_p: float = 0.2,
    max_span: int = 10,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SpanBERT's masking (`sample_spans`): spans of whole words (`continuation` as in
    `mask_tokens`; without it every token is a word), each replaced as a unit: all its tokens
    by `[MASK]` (`mask_fraction`), all by random tokens (`random_fraction`), or all kept.

    Returns the corrupted ids and the labels (the original id where masked, else -100).
    """
    starts = candidates if continuation is None else candidates & ~continuation[input_ids]
    span = sample_spans(candidates, starts, probability, span_p, max_span, generator)  # (B, T)
    chosen = span >= 0
    b, t = input_ids.shape
    per_span = torch.rand(b, t + 1, device=input_ids.device, generator=generator)  # by first word
    action = per_span.gather(1, span.clamp_min(0))  # (B, T): each token its span's draw
    corrupted = corrupt(
        input_ids, chosen, action, mask_token_id, replacement_ids, mask_fraction, random_fraction,
        generator,
    )  # fmt: skip
    return corrupted, torch.where(chosen, input_ids, IGNORE)
