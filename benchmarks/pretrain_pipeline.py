"""Where SimCLR pretraining time goes on this machine: augmentation vs model, Lightning vs a plain loop.

Measures, in one process and on the same composed config:
  data      images/s of the view DataLoader alone (per-sample CPU augmentation)
  model     images/s of forward+backward+step on ready-made batches (plain PyTorch)
  plain     images/s of a plain PyTorch loop over the real DataLoader (the usual pipeline)
  lightning images/s of pretrainkit's Lightning fit over the same number of steps
and prints the ratios. Run: .venv/bin/python benchmarks/pretrain_pipeline.py [overrides...]
e.g. `dataset=fashion_mnist backbone=resnet18 data.batch_size=128`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from itertools import islice

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from pretrainkit.config import config_dir

STEPS = 20


def config(overrides: list[str], out: str):
    with initialize_config_dir(config_dir(), version_base="1.3"):
        return compose(
            "pretrain",
            [f"paths.output_dir={out}", "logger=none", "callbacks=none", "trainer.accelerator=cpu",
             "trainer.enable_progress_bar=false", *overrides],
        )  # fmt: skip


def rate(images: int, seconds: float) -> float:
    return images / seconds


def main(overrides: list[str]) -> None:
    out = tempfile.mkdtemp()
    cfg = config(overrides, out)
    dm = instantiate(cfg.data)
    dm.setup()
    batch = cfg.data.batch_size
    steps = min(STEPS, len(dm.train_set) // batch)

    def loader():
        return islice(iter(dm.train_dataloader()), steps)

    start = time.perf_counter()
    batches = list(loader())
    data = rate(steps * batch, time.perf_counter() - start)

    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    opt = torch.optim.AdamW(task.parameters(), lr=1e-3)

    def step(views: list[torch.Tensor]) -> None:
        opt.zero_grad(set_to_none=True)
        task._loss(views).backward()
        opt.step()

    step(batches[0])  # warm-up
    start = time.perf_counter()
    for views in batches:
        step(views)
    model = rate(steps * batch, time.perf_counter() - start)

    start = time.perf_counter()
    for views in loader():
        step(views)
    plain = rate(steps * batch, time.perf_counter() - start)

    cfg.trainer.max_epochs, cfg.trainer.limit_train_batches, cfg.trainer.limit_val_batches = (
        1,
        steps,
        0,
    )
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    start = time.perf_counter()
    trainer.fit(task, datamodule=dm)
    lightning = rate(steps * batch, time.perf_counter() - start)

    print(f"{cfg.dataset.name} / {cfg.backbone._target_.rsplit('.', 1)[-1]} / batch {batch} / {steps} steps, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    for name, value in [
        ("data", data),
        ("model", model),
        ("plain", plain),
        ("lightning", lightning),
    ]:
        print(f"  {name:10s} {value:8.0f} images/s")
    print(f"  data-bound: the loader alone runs at {data / model:.2f}x the model's pace")
    print(f"  lightning / plain loop: {lightning / plain:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
