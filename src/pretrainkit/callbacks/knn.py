"""Online k-NN accuracy of the backbone's features: is pretraining learning anything useful?"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from pretrainkit.data.monitor import MonitorSet


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


class KNNMonitor(Callback):
    """Logs `val/knn_acc` every `every_n_epochs` training epochs: the backbone (in eval mode,
    no gradients) embeds the data module's monitor bank and queries, and each query takes the
    label of its weighted k nearest neighbours.
    """

    def __init__(self, k: int = 20, temperature: float = 0.07, every_n_epochs: int = 1) -> None:
        self.k, self.temperature, self.every_n_epochs = k, temperature, every_n_epochs

    @torch.no_grad()
    def _embed(self, pl_module: L.LightningModule, monitor: MonitorSet, part) -> torch.Tensor:
        feats = [pl_module.backbone(x.to(pl_module.device)) for x, _ in monitor.loader(part)]
        return torch.cat(feats).float()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        monitor = getattr(trainer.datamodule, "monitor", None)
        if monitor is None:
            rank_zero_warn(
                "KNNMonitor: the data module has no labeled monitor set (data.monitor); skipping."
            )
            return
        monitor.setup()
        was_training = pl_module.backbone.training
        pl_module.backbone.eval()
        bank = self._embed(pl_module, monitor, monitor.bank)
        queries = self._embed(pl_module, monitor, monitor.queries)
        pl_module.backbone.train(was_training)
        bank_labels = torch.as_tensor(monitor.targets(monitor.bank), device=bank.device)
        query_labels = torch.as_tensor(monitor.targets(monitor.queries), device=bank.device)
        pred = knn_predict(
            queries, bank, bank_labels, monitor.source.num_classes, self.k, self.temperature
        )
        pl_module.log("val/knn_acc", (pred == query_labels).float().mean(), prog_bar=True)
