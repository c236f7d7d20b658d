"""Online linear probe: how linearly separable are the classes in the backbone's features?"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.callbacks.base import MonitorCallback
from pretrainkit.errors import BadValueError


class OnlineProbe(MonitorCallback):
    """Logs `val/probe_acc` every `every_n_epochs` training epochs: a linear classifier,
    trained on the monitor bank's features and scored on the queries.

    The features are detached (the backbone gets no gradients and, embedded in eval mode, keeps
    its BatchNorm statistics), standardised with the bank's mean and std (so the probe does not
    depend on the feature scale), and the classifier is warm-started: each run continues from
    the last for `passes` passes over the bank, with its own optimizer and shuffling generator.
    Its state goes into Lightning checkpoints, so a resumed run continues it.

    Args:
        passes: passes over the bank per run.
        optimizer: "adamw" or "sgd" (momentum 0.9).
        seed: seeds the probe's own minibatch order (never the global RNG).
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        passes: int = 10,
        batch_size: int = 256,
        optimizer: Literal["adamw", "sgd"] = "adamw",
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_epochs)
        if optimizer not in ("adamw", "sgd"):
            raise BadValueError(f"callbacks.probe.optimizer={optimizer!r}: use adamw or sgd.")
        self.passes, self.batch_size = passes, batch_size
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.generator = torch.Generator().manual_seed(seed)
        self.linear: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._loaded: dict[str, Any] | None = None  # a checkpoint's state, until the probe exists

    def _build(self, dim: int, num_classes: int, device: torch.device) -> None:
        # skip_init + zeros: no draw from the global RNG (it would change the training run)
        self.linear = nn.utils.skip_init(nn.Linear, dim, num_classes, device=device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        params = self.linear.parameters()
        if self.optimizer_name == "sgd":
            self.optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self._loaded is not None:
            self.load_state_dict(self._loaded)

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """`passes` passes of minibatch cross-entropy over (detached) `features`."""
        assert self.linear is not None and self.optimizer is not None
        features = features.detach()
        with torch.enable_grad():
            for _ in range(self.passes):
                order = torch.randperm(len(features), generator=self.generator)
                for idx in order.to(features.device).split(self.batch_size):
                    loss = F.cross_entropy(self.linear(features[idx]), labels[idx])
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()

    @torch.no_grad()
    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert self.linear is not None
        return (self.linear(features).argmax(1) == labels).float().mean()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.due(trainer) or (feats := self.features(trainer, pl_module)) is None:
            return
        if self.linear is None:
            self._build(feats.bank.shape[1], feats.num_classes, feats.bank.device)
        # standardise with the bank's statistics: a fixed affine map, so still a linear probe
        mean, std = feats.bank.mean(0), (feats.bank.var(0) + 1e-10).sqrt()  # (D,)
        self.fit((feats.bank - mean) / std, feats.bank_labels)
        acc = self.accuracy((feats.queries - mean) / std, feats.query_labels)
        pl_module.log("val/probe_acc", acc, prog_bar=True)

    def state_dict(self) -> dict[str, Any]:
        if self.linear is None or self.optimizer is None:
            return dict(self._loaded or {})
        return {
            "linear": self.linear.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        if self.linear is None or self.optimizer is None:
            self._loaded = state_dict  # applied once the feature size is known
            return
        self.linear.load_state_dict(state_dict["linear"])
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.generator.set_state(state_dict["generator"])
        self._loaded = None
