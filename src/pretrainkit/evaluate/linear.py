"""Linear probes at several learning rates, trained together on cached features."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError
from pretrainkit.evaluate.protocol import Outcome, Split, accuracy, best_on_val


class MultiHeadLinear(nn.Module):
    """`heads` independent linear classifiers of the same features as one stacked layer, each
    initialised as DINOv2's linear evaluation does (weights N(0, 0.01²), zero bias) from the
    same `seed`, so every head starts where a single `nn.Linear` probe of that seed would:
    (B, D) -> (H, B, C)."""

    def __init__(self, dim: int, num_classes: int, heads: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        weight = torch.randn(num_classes, dim, generator=generator) * 0.01  # nn.Linear's layout
        self.weight = nn.Parameter(weight.T.expand(heads, dim, num_classes).clone())  # (H, D, C)
        self.bias = nn.Parameter(torch.zeros(heads, 1, num_classes))  # (H, 1, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x.expand(len(self.weight), -1, -1), self.weight)

    def head(self, h: int, x: torch.Tensor) -> torch.Tensor:
        """(B, C) logits of head `h` alone."""
        return torch.addmm(self.bias[h], x, self.weight[h])


def head_losses(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(H,) mean cross-entropy of each head's (H, B, C) logits."""
    heads = logits.shape[0]
    losses = F.cross_entropy(logits.flatten(0, 1), target.repeat(heads), reduction="none")
    return losses.view(heads, -1).mean(1)


def standardized(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """`train` and `others` less the training features' mean, over their standard deviation
    (BatchNorm's epsilon): a frozen BatchNorm without affine, as pk-finetune's probe head."""
    mean, var = train.mean(0), train.var(0, unbiased=False)
    scale = (var + 1e-5).rsqrt()
    return [(x - mean) * scale for x in (train, *others)]


# Below this many multiply-adds a step, a CPU's threads synchronise for longer than they compute
# (a digits-sized probe ran 10x slower on two busy cores than on one).
SMALL_STEP = 1 << 24


@contextmanager
def cpu_threads(device: torch.device, work: int) -> Iterator[None]:
    """One intra-op thread for small steps on a CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    if device.type == "cpu" and work < SMALL_STEP:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_heads(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    lrs: Sequence[float],
    epochs: int,
    batch_size: int,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> tuple[MultiHeadLinear, torch.Tensor]:
    """Train one head per learning rate on (x, y) at once, on the same shuffled batches:
    torch.optim.SGD's update (momentum, L2 weight decay; no dampening, no Nesterov) with each
    head's own lr, under a cosine schedule to zero over every step (DINOv2's recipe). Each
    head's gradient is that of its own loss, so the result is that of separate single probes
    of the same seed. Returns the heads and the (epochs, H) mean training loss per epoch."""
    model = MultiHeadLinear(x.shape[1], num_classes, len(lrs), seed).to(x.device)
    params = [model.weight, model.bias]
    momenta = [torch.zeros_like(p) for p in params]
    lr = torch.tensor(list(lrs), device=x.device).view(-1, 1, 1)  # (H, 1, 1)
    steps, step = epochs * math.ceil(len(y) / batch_size), 0
    order_rng = torch.Generator().manual_seed(seed)
    history = torch.zeros(epochs, len(lrs))
    work = len(lrs) * min(batch_size, len(y)) * x.shape[1] * num_classes
    with cpu_threads(x.device, work):
        for epoch in range(epochs):
            for idx in torch.randperm(len(y), generator=order_rng).to(x.device).split(batch_size):
                losses = head_losses(model(x[idx]), y[idx])
                grads = torch.autograd.grad(losses.sum(), params)
                scale = 0.5 * (1 + math.cos(math.pi * step / steps))  # cosine, from 1 to 0
                with torch.no_grad():
                    for p, grad, m in zip(params, grads, momenta, strict=True):
                        m.mul_(momentum).add_(grad + weight_decay * p)
                        p.sub_(lr * scale * m)
                history[epoch] += losses.detach().cpu() * len(idx) / len(y)
                step += 1
    return model, history


class LinearGrid:
    """Linear probes of frozen features at every learning rate of `lr`, trained together as
    one multi-head layer (DINOv2's linear evaluation trains its whole grid at once), each head
    scored on validation at the end of training; the best head (ties: the lower validation
    loss, then the smaller lr) is scored on test.

    Args:
        lr: learning rates, one head each (not scaled by the batch size).
        epochs: passes over the labeled training features.
        batch_size: features per step.
        momentum: SGD momentum.
        weight_decay: L2 penalty (DINOv2 uses none).
        standardize: standardise every feature with the training split's mean and standard
            deviation first. On by default: backbones put features on scales orders of
            magnitude apart (a ReLU CNN, a Transformer's pooled tokens), and standardised
            inputs let one lr grid fit them all; it is the frozen, affine-free BatchNorm that
            pk-finetune's linear probe puts before its head (MAE's probe does the same).
            k-NN needs none: cosine similarity ignores the scale.
        seed: the heads' initialisation and the batches' order.
    """

    name = "linear"

    def __init__(
        self,
        lr: Sequence[float] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        epochs: Annotated[int, Range(ge=1, example="100")] = 100,
        batch_size: Annotated[int, Range(ge=1, example="256")] = 256,
        momentum: Annotated[float, Range(ge=0, lt=1, example="0.9")] = 0.9,
        weight_decay: Annotated[float, Range(ge=0, example="0")] = 0.0,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        self.lr = sorted(float(v) for v in lr)
        if not self.lr or self.lr[0] <= 0:
            raise BadValueError(
                f"eval.linear.lr={list(lr)}: give learning rates > 0, e.g. "
                "eval.linear.lr=[0.01,0.1] (eval.linear=null skips the linear probe)."
            )
        self.epochs, self.batch_size = epochs, batch_size
        self.momentum, self.weight_decay = momentum, weight_decay
        self.standardize, self.seed = standardize, seed

    def run(self, train: Split, val: Split, test: Split, num_classes: int) -> Outcome:
        x_train, x_val, x_test = train[0].float(), val[0].float(), test[0].float()
        if self.standardize:
            x_train, x_val, x_test = standardized(x_train, x_val, x_test)
        model, history = train_heads(
            x_train, train[1], num_classes, self.lr, self.epochs, self.batch_size,
            self.momentum, self.weight_decay, self.seed,
        )  # fmt: skip
        with torch.no_grad():
            logits = model(x_val)  # (H, N, C)
            val_loss = head_losses(logits, val[1])
        tried = [
            {
                "lr": lr,
                "val_acc": accuracy(logits[h].argmax(1), val[1]),
                "val_loss": val_loss[h].item(),
                "train_loss": history[-1, h].item(),
            }
            for h, lr in enumerate(self.lr)
        ]
        best = best_on_val(tried)
        with torch.no_grad():
            test_pred = model.head(self.lr.index(best["lr"]), x_test).argmax(1)
        test_acc = accuracy(test_pred, test[1])
        return Outcome(self.name, {"lr": best["lr"]}, best["val_acc"], test_acc, tried)
