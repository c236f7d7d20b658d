"""A picture of the learned representation at the end of pretraining."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch.nn.functional as F

from pretrainkit.callbacks.base import MonitorCallback
from pretrainkit.errors import BadValueError
from pretrainkit.run.io import atomic_write
from pretrainkit.run.tracking import log_image


def project_2d(
    features: np.ndarray, method: Literal["tsne", "pca"] = "tsne", seed: int = 0
) -> np.ndarray:
    """(N, D) features -> (N, 2) points, by t-SNE (neighbourhoods) or PCA (global layout)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, svd_solver="full").fit_transform(features)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(30.0, (len(features) - 1) / 3)  # t-SNE needs perplexity < N
    tsne = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # One thread: t-SNE's OpenMP barriers stall on a busy CPU (data workers, other ranks or
    # jobs); on a loaded 2-core machine 2,000 points took 73 s with two threads, 23 s with one.
    with threadpool_limits(1):
        return tsne.fit_transform(features)


def scatter_png(
    points: np.ndarray, labels: np.ndarray, classes: list[str], title: str, path: Path
) -> None:
    """Write a scatter plot of `points` coloured by class to `path`, atomically."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6), dpi=100)
    FigureCanvasAgg(fig)  # the Agg canvas directly: no pyplot state, no display needed
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for i, name in enumerate(classes):
        mask = labels == i
        ax.scatter(points[mask, 0], points[mask, 1], s=6, color=cmap(i % cmap.N), label=name)
    if len(classes) <= 20:
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set(title=title, xticks=[], yticks=[])
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


class EmbeddingPlot(MonitorCallback):
    """At the end of pretraining, projects the monitor set's L2-normalised features to 2-D
    (t-SNE or PCA, at most `max_points` of them), draws them coloured by class to
    `<dirpath>/embedding.png` and logs the picture to W&B as `val/embedding`. Rank zero only.

    Args:
        dirpath: the run directory.
        method: "tsne" (about 10-25 s for 2,000 points on one CPU core) or "pca" (instant).
        seed: seeds the subsample and t-SNE (never the global RNG).
    """

    def __init__(
        self,
        dirpath: str,
        method: Literal["tsne", "pca"] = "tsne",
        max_points: int = 2000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if method not in ("tsne", "pca"):
            raise BadValueError(f"callbacks.embedding.method={method!r}: use tsne or pca.")
        self.path = Path(dirpath) / "embedding.png"
        self.method, self.max_points, self.seed = method, max_points, seed

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or (feats := self.features(trainer, pl_module)) is None:
            return
        features, labels = feats.all
        # on the unit sphere: the cosine geometry k-NN and contrastive losses use
        features, labels = F.normalize(features, dim=1).cpu().numpy(), labels.cpu().numpy()
        if len(features) > self.max_points:
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(len(features), self.max_points, replace=False))
            features, labels = features[keep], labels[keep]
        points = project_2d(features, self.method, self.seed)
        title = (
            f"{getattr(pl_module, 'name', 'backbone')} features, step {trainer.global_step}: "
            f"{len(points)} images, {'t-SNE' if self.method == 'tsne' else 'PCA'}"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scatter_png(points, labels, feats.classes, title, self.path)
        log_image(trainer.loggers, "val/embedding", self.path, trainer.global_step, title)
