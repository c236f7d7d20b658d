"""Weighted k-NN over a grid of neighbourhood sizes and temperatures, on cached features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F

from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.evaluate.protocol import Outcome, Split, accuracy, best_on_val


def knn_votes(
    queries: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float,
) -> torch.Tensor:
    """(Q, C) class weights of each query: its k most cosine-similar bank items vote for their
    class with weight exp(similarity / temperature), normalised to sum to one (a per-query
    constant, so the argmax is the protocol's prediction and large 1/T cannot overflow)."""
    return knn_grid(queries, bank, bank_labels, num_classes, [k], [temperature], scores=True)[
        (k, temperature)
    ]


@torch.no_grad()
def knn_grid(
    queries: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    ks: Sequence[int],
    temperatures: Sequence[float],
    chunk_size: int = 4096,
    scores: bool = False,
) -> dict[tuple[int, float], torch.Tensor]:
    """Predictions (Q,) for every (k, temperature), or with `scores` the (Q, C) normalised
    votes: the similarities and the largest k's neighbours are computed once per chunk of
    queries, each setting votes on a prefix of them."""
    bank = F.normalize(bank.float(), dim=1)
    labels = bank_labels.to(bank.device)
    k_max = min(max(ks), len(bank))
    out: dict[tuple[int, float], list[torch.Tensor]] = {
        (k, t): [] for k in ks for t in temperatures
    }
    for chunk in F.normalize(queries.float().to(bank.device), dim=1).split(chunk_size):
        top, idx = (chunk @ bank.T).topk(k_max, dim=1)  # (q, k_max), most similar first
        shifted = top - top[:, :1]  # exp(s / T) up to a per-query factor: no overflow at small T
        neighbours = labels[idx]  # (q, k_max)
        for k, t in out:
            n = min(k, k_max)
            votes = torch.zeros(len(chunk), num_classes, device=bank.device)
            votes.scatter_add_(1, neighbours[:, :n], (shifted[:, :n] / t).exp())
            out[k, t].append(votes / votes.sum(1, keepdim=True) if scores else votes.argmax(1))
    return {key: torch.cat(parts) for key, parts in out.items()}


class KNNGrid:
    """Weighted k-NN classification of frozen features (Wu et al., 2018, "Unsupervised Feature
    Learning via Non-Parametric Instance Discrimination"; the k-NN protocol of DINO, Caron et
    al., 2021): cosine similarity to the labeled training set, the k nearest vote with weight
    exp(similarity / temperature). Every (k, temperature) of the grid is scored on validation,
    the best one (ties: the earlier in the grid, smaller k first) on test.

    Args:
        k: neighbourhood sizes; each is capped at the training set's size.
        temperature: vote temperatures (DINO's is 0.07; a large one approaches a plain vote).
        chunk_size: queries compared with the training set at once (memory: chunk x train).
    """

    name = "knn"

    def __init__(
        self,
        k: Sequence[int] = (10, 20, 100, 200),
        temperature: Sequence[float] = (0.02, 0.07, 0.2),
        chunk_size: Annotated[int, Range(ge=1, example="4096")] = 4096,
    ) -> None:
        self.k, self.temperature = [int(v) for v in k], [float(v) for v in temperature]
        if not self.k or min(self.k) < 1:
            raise BadValueError(
                f"eval.knn.k={self.k}: give neighbourhood sizes >= 1, e.g. eval.knn.k=[10,20] "
                "(eval.knn=null skips k-NN)."
            )
        if not self.temperature or min(self.temperature) <= 0:
            raise BadValueError(
                f"eval.knn.temperature={self.temperature}: give temperatures > 0, e.g. "
                "eval.knn.temperature=[0.07] (eval.knn=null skips k-NN)."
            )
        self.chunk_size = chunk_size

    def grid(self, train_size: int) -> list[tuple[int, float]]:
        """The (k, temperature) settings for a training set of `train_size`, k capped at it."""
        ks = sorted({min(k, train_size) for k in self.k})
        return [(k, t) for k in ks for t in self.temperature]

    def run(self, train: Split, val: Split, test: Split, num_classes: int) -> Outcome:
        grid = self.grid(len(train[1]))
        ks, temps = sorted({k for k, _ in grid}), self.temperature
        preds = knn_grid(val[0], *train, num_classes, ks, temps, self.chunk_size)
        tried = [
            {"k": k, "temperature": t, "val_acc": accuracy(preds[k, t], val[1])} for k, t in grid
        ]
        best = best_on_val(tried)
        chosen = {"k": best["k"], "temperature": best["temperature"]}
        test_pred = knn_grid(test[0], *train, num_classes, [chosen["k"]], [chosen["temperature"]])
        test_acc = accuracy(test_pred[chosen["k"], chosen["temperature"]], test[1])
        return Outcome(self.name, chosen, best["val_acc"], test_acc, tried)
