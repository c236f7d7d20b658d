"""The end-of-pretraining embedding picture: a PNG in the run directory and in W&B."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pretrainkit.callbacks.embedding import EmbeddingPlot, project_2d

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_projection_is_2d_and_separates_clusters(method: str, blobs):
    features, labels = blobs(150, 16, 3).all
    points = project_2d(features.numpy(), method)
    assert points.shape == (150, 2)
    labels = labels.numpy()
    centres = np.stack([points[labels == c].mean(0) for c in range(3)])  # (3, 2)
    nearest = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)  # (150,)
    assert (nearest == labels).mean() > 0.95  # the clusters stay apart in 2-D


def test_png_is_written_and_logged_to_offline_wandb(fake_run, blobs, tmp_path: Path):
    import wandb

    from pretrainkit.run.tracking import WandbLogger

    logger = WandbLogger(project="pk-test", save_dir=str(tmp_path))
    trainer, task = fake_run(blobs(2500, 16, 10), loggers=[logger])
    plot = EmbeddingPlot(str(tmp_path / "run"), method="pca", max_points=2000)
    plot.on_train_end(trainer, task)
    wandb.finish()
    png = tmp_path / "run/embedding.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 20_000
    assert Image.open(png).size == (600, 600)
    assert not list(png.parent.glob(".embedding.png.*"))  # the atomic write left no temp file
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    media = list((run_dir / "files/media/images").rglob("*.png"))
    assert len(media) == 1 and media[0].read_bytes().startswith(PNG_MAGIC)


def test_only_rank_zero_draws_and_nothing_without_labels(fake_run, blobs, tmp_path: Path):
    trainer, task = fake_run(blobs(100, 8, 2))
    trainer.is_global_zero = False
    EmbeddingPlot(str(tmp_path), method="pca").on_train_end(trainer, task)
    trainer, task = fake_run(blobs(100, 8, 2), labeled=False)
    with pytest.warns(UserWarning, match="no labeled monitor set"):
        EmbeddingPlot(str(tmp_path), method="pca").on_train_end(trainer, task)
    assert not (tmp_path / "embedding.png").exists()
