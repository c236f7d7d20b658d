"""data.augment_on: the loader decodes uint8 batches, the data module augments them after the
transfer, from each batch's own seed."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import make_cfg
from hydra.utils import instantiate
from omegaconf import open_dict

from pretrainkit.augment.on_device import augments_on_device
from pretrainkit.data.image.unlabeled import UnlabeledDataModule


def module(augment_on: str, workers: int = 0, task: str = "simclr") -> UnlabeledDataModule:
    cfg = make_cfg(
        "pretrain",
        [f"task={task}", f"data.augment_on={augment_on}", f"data.num_workers={workers}",
         "data.batch_size=16", "monitor=none"],
    )  # fmt: skip
    dm = instantiate(cfg.data)
    dm.trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    torch.manual_seed(0)  # the loaders' order follows the run's seed
    dm.setup("fit")
    return dm


def first_batch(dm: UnlabeledDataModule):
    return next(iter(dm.train_dataloader()))


def test_auto_augments_on_the_device_only_when_training_on_a_gpu():
    cpu = L.Trainer(accelerator="cpu", logger=False)
    assert not augments_on_device("auto", cpu) and not augments_on_device("auto", None)
    assert augments_on_device("gpu", cpu) and not augments_on_device("cpu", cpu)
    dm = module("auto")
    assert not dm.on_device
    views = first_batch(dm)
    assert isinstance(views, list) and views[0].dtype == torch.float32  # made in the loader
    assert dm.on_after_batch_transfer(views, 0) is views


def test_the_loader_only_decodes_and_the_transfer_hook_makes_the_views():
    dm = module("gpu")
    images, seed = first_batch(dm)
    assert images.dtype == torch.uint8 and images.shape == (16, 1, 8, 8)
    assert isinstance(seed, int)  # a host value: reading it never waits on the GPU
    state = torch.get_rng_state()
    views = dm.on_after_batch_transfer((images, seed), 0)
    assert torch.equal(torch.get_rng_state(), state)  # the training process's stream untouched
    assert [v.shape for v in views] == [torch.Size([16, 1, 8, 8])] * 2
    assert not torch.equal(views[0], views[1])
    again = dm.on_after_batch_transfer((images, seed), 0)
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    single = module("gpu", task="rotation")
    assert isinstance(single.on_after_batch_transfer(first_batch(single), 0), torch.Tensor)


def test_batches_and_their_seeds_do_not_depend_on_the_worker_count():
    a, b = first_batch(module("gpu", workers=0)), first_batch(module("gpu", workers=2))
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_device_augmentation_needs_the_recipes_batched_twin():
    cfg = make_cfg("pretrain", ["data.augment_on=gpu"])
    with pytest.raises(Exception, match="data.augment_on=gpu needs data.device_transform"):
        instantiate(cfg.data, device_transform=None)
    with open_dict(cfg):
        cfg.data.augment_on = "auto"
    assert instantiate(cfg.data, device_transform=None).augment_on == "auto"  # cpu, then
