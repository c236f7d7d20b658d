"""The online k-NN monitor: the vote, the monitor set's split, and a clear error without labels;
no monitor changes the training it watches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate

from pretrainkit.callbacks.knn import knn_predict


def test_weighted_vote_picks_the_nearest_cluster():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    queries = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    assert knn_predict(queries, bank, labels, num_classes=2, k=5, temperature=0.07).tolist() == [
        0,
        1,
    ]
    # with a flat temperature every neighbour counts alike: the majority (class 1) wins
    assert knn_predict(queries, bank, labels, num_classes=2, k=5, temperature=1e6).tolist() == [
        1,
        1,
    ]


def test_monitor_set_uses_train_images_only_and_keeps_bank_and_queries_apart(tmp_path: Path):
    monitor = instantiate(
        make_cfg("pretrain", ["data.monitor.max_images=500"], tmp_path).data.monitor
    )
    monitor.setup()
    bank, queries = set(monitor.bank.indices), set(monitor.queries.indices)
    assert not bank & queries and 480 <= len(bank) + len(queries) <= 510
    assert monitor.bank.dataset is monitor.source.labeled("train")  # never the test split
    assert len(np.unique(monitor.targets(monitor.queries))) == 10


def test_unlabeled_folder_with_monitor_fails_early_and_names_the_fix(
    tmp_path: Path, digits_folder: Path
):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, png in enumerate(sorted(digits_folder.rglob("*.png"))[:300]):
        png.rename(flat / f"{i}.png")
    overrides = [
        "dataset=image_folder",
        f"dataset.source.root={flat}",
        "dataset.image_size=16",
        "data.batch_size=32",
    ]
    dm = instantiate(make_cfg("pretrain", overrides, tmp_path).data)
    with pytest.raises(FileNotFoundError, match="monitor=none"):
        dm.setup()
    dm = instantiate(make_cfg("pretrain", [*overrides, "monitor=none"], tmp_path).data)
    dm.setup()
    assert len(dm.train_set) > 0


@pytest.mark.slow
def test_monitor_does_not_change_the_training_it_watches(tmp_path: Path):
    """Every monitor on (k-NN, probe, health, plot) vs none: bitwise the same backbone."""
    from safetensors.torch import load_file

    from pretrainkit.pretrain import pretrain

    for name, monitor in (("watched", []), ("plain", ["monitor=none"])):
        pretrain(
            make_cfg(
                "pretrain",
                [
                    *monitor,
                    "logger=none",
                    "trainer.max_epochs=3",
                    "trainer.limit_train_batches=1.0",
                ],
                tmp_path / name,
            )
        )
    watched, plain = (
        load_file(str(tmp_path / m / "backbone.safetensors")) for m in ("watched", "plain")
    )
    assert all(torch.equal(watched[k], plain[k]) for k in plain)
    assert (tmp_path / "watched/embedding.png").is_file()
