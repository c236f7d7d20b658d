"""What each vision pretext task buys under the same CPU budget: linear-probe and k-NN accuracy.

For every task (default: all of conf/task except the text ones):
  1. calibrate: time a few optimizer steps of the task's own pipeline (augmentation included);
  2. pretrain through the real entry point (`pretrainkit.pretrain.pretrain`) for the number of
     steps that fit the budget, so the warm-up/cosine schedule runs to its end;
  3. freeze the exported backbone and evaluate it on the dataset's labeled splits:
       linear  a linear classifier on frozen, cached features of a stratified subset of the
               train split (--eval-train images, 10,000 by default; no augmentation;
               features standardised, 3,000 AdamW steps), accuracy on the test split;
       knn     weighted 20-NN (cosine, tau 0.07; Wu et al., 2018), the same subset as the bank.
A randomly initialised backbone of every architecture used is the reference row.

Run:  .venv/bin/python benchmarks/vision_tasks.py --minutes 4 [--tasks simclr byol] [overrides]
e.g. `dataset=digits` or `data.num_workers=1`. Prints a Markdown table (and --out writes it).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader

from pretrainkit.augment.normalize import eval_transform
from pretrainkit.callbacks.knn import knn_predict
from pretrainkit.config import config_dir
from pretrainkit.data.splits import labeled_subset
from pretrainkit.data.transformed import Transformed
from pretrainkit.pretrain import pretrain
from pretrainkit.run.export import load_backbone

CALIBRATION_STEPS = 12  # the first 3 are warm-up and not timed
TEXT_TASKS = {"mlm", "clm"}


def compose_cfg(overrides: list[str], out: Path) -> DictConfig:
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose(
            "pretrain",
            [
                "trainer.accelerator=cpu",
                "trainer.enable_progress_bar=false",
                "monitor=none",  # the budget goes to pretraining; evaluation comes after
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, *args) -> None:
        self.times.append(time.perf_counter())


def seconds_per_step(cfg: DictConfig) -> float:
    """Wall seconds per optimizer step of the task's training loop, data loading included."""
    L.seed_everything(cfg.seed, verbose=False)
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=CALIBRATION_STEPS,
        limit_val_batches=0,
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    task = instantiate(cfg.task, backbone=instantiate(cfg.backbone))
    trainer.fit(task, datamodule=instantiate(cfg.data))
    t = timer.times[2:]
    return (t[-1] - t[0]) / (len(t) - 1)


@torch.no_grad()
def features(backbone: torch.nn.Module, dataset: Transformed) -> tuple[torch.Tensor, torch.Tensor]:
    backbone.eval()
    feats, labels = [], []
    for x, y in DataLoader(dataset, batch_size=512):
        feats.append(backbone(x).float())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels)


def linear_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    steps: int = 3000,
    batch_size: int = 1024,
) -> float:
    """A fixed number of AdamW steps with cosine decay, whatever the dataset's size."""
    (x, y), (xt, yt) = train, test
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x, xt = (x - mean) / std, (xt - mean) / std
    gen = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(head(x[idx]), y[idx]).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return (head(xt).argmax(1) == yt).float().mean().item()


def knn_accuracy(
    train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], n: int
) -> float:
    (bank, labels), (queries, qlabels) = train, test
    pred = torch.cat([knn_predict(q, bank, labels, n) for q in queries.split(1000)])
    return (pred == qlabels).float().mean().item()


def evaluate(backbone: torch.nn.Module, cfg: DictConfig, max_train: int) -> tuple[float, float]:
    source = instantiate(cfg.dataset.source)
    transform = eval_transform(cfg.dataset.image_size, cfg.dataset.mean, cfg.dataset.std)
    labeled = source.labeled("train")
    fraction = min(1.0, max_train / len(labeled))
    chosen = labeled_subset(labeled.targets, seed=0, fraction=fraction)  # stratified, fixed
    train = features(backbone, Transformed(labeled, transform, chosen))
    test = features(backbone, Transformed(source.labeled("test"), transform))
    n = source.num_classes
    return linear_probe(train, test, n), knn_accuracy(train, test, n)


def arch(cfg: DictConfig) -> str:
    b = cfg.backbone
    return str(b.get("name") or b._target_.rsplit(".", 1)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="pretraining budget per task")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument(
        "--eval-train", type=int, default=10_000, help="labeled train images for probe and bank"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument("overrides", nargs="*", default=["dataset=fashion_mnist"])
    args = parser.parse_args()
    overrides = args.overrides
    if not any(o.startswith("dataset=") for o in overrides):
        overrides = ["dataset=fashion_mnist", *overrides]
    tasks = args.tasks or sorted(
        p.stem for p in (Path(config_dir()) / "task").glob("*.yaml") if p.stem not in TEXT_TASKS
    )
    # Barely-trained backbones can emit denormal floats, which make CPU matmuls ~100x slower.
    torch.set_flush_denormal(True)
    work = Path(tempfile.mkdtemp(prefix="pk-vision-bench-"))
    rows, baselines = [], {}
    for task in tasks:
        cfg = compose_cfg([f"task={task}", "logger=csv", *overrides], work / task)
        per_step = seconds_per_step(compose_cfg([f"task={task}", "logger=none", *overrides], work))
        steps = max(1, int(args.minutes * 60 / per_step))
        with open_dict(cfg):
            cfg.trainer.max_steps, cfg.trainer.max_epochs = steps, 10_000
        start = time.perf_counter()
        pretrain(cfg)
        wall = time.perf_counter() - start
        backbone, _ = load_backbone(work / task, cfg.backbone)
        linear, knn = evaluate(backbone, cfg, args.eval_train)
        n_images = len(instantiate(cfg.dataset.source).unlabeled())
        epochs = steps * cfg.data.batch_size / n_images
        rows.append((task, arch(cfg), steps, epochs, wall, linear, knn))
        print(f"{task}: {steps} steps ({epochs:.1f} epochs) in {wall:.0f} s; "
              f"linear {linear:.3f}, knn {knn:.3f}", flush=True)  # fmt: skip
        if arch(cfg) not in baselines:
            L.seed_everything(cfg.seed, verbose=False)
            baselines[arch(cfg)] = evaluate(instantiate(cfg.backbone), cfg, args.eval_train)

    for name, (linear, knn) in baselines.items():
        rows.append(("random init", name, 0, 0.0, 0.0, linear, knn))
    dataset = compose_cfg(overrides, work).dataset.name
    lines = [
        f"{dataset}, {args.minutes:g} min of pretraining per task on {platform.machine()} "
        f"({torch.get_num_threads()} threads), torch {torch.__version__}, batch "
        f"{compose_cfg(overrides, work).data.batch_size}; overrides: {' '.join(overrides)}",
        "",
        "| task | backbone | steps | epochs | pretrain s | linear probe % | k-NN % |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, name, steps, epochs, wall, linear, knn in rows:
        lines.append(
            f"| {task} | {name} | {steps} | {epochs:.1f} | {wall:.0f} | "
            f"{100 * linear:.1f} | {100 * knn:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
