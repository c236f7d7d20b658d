"""Online k-NN accuracy of the backbone's features: is pretraining learning anything useful?"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from pretrainkit.callbacks.base import MonitorCallback


def knn_predict(
    queries: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Weighted k-NN on cosine similarity (Wu et al., 2018): each of the k nearest bank items
    votes for its class with weight exp(similarity / temperature). Returns class indices."""
    sims = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T  # (Q, N)
    top, idx = sims.topk(min(k, len(bank)), dim=1)  # (Q, k)
    votes = torch.zeros(len(queries), num_classes, device=queries.device)
    votes.scatter_add_(1, bank_labels[idx], (top / temperature).exp())
    return votes.argmax(1)


class KNNMonitor(MonitorCallback):
    """Logs `val/knn_acc` every `every_n_epochs` training epochs: the backbone (in eval mode,
    no gradients) embeds the data module's monitor bank and queries, and each query takes the
    label of its weighted k nearest neighbours.
    """

    def __init__(self, k: int = 20, temperature: float = 0.07, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        self.k, self.temperature = k, temperature

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.due(trainer) or (feats := self.features(trainer, pl_module)) is None:
            return
        pred = knn_predict(
            feats.queries,
            feats.bank,
            feats.bank_labels,
            feats.num_classes,
            self.k,
            self.temperature,
        )
        acc = (pred == feats.query_labels).float().mean()
        pl_module.log("val/knn_acc", acc, prog_bar=True)
