"""What each vision pretext task buys under the same CPU budget: linear-probe and k-NN accuracy.

For every task (default: all of conf/task except the text ones):
  1. calibrate: time a few optimizer steps of the task's own pipeline (augmentation included);
  2. pretrain through the real entry point (`pretrainkit.pretrain.pretrain`) for the number of
     steps that fit the budget, so the warm-up/cosine schedule runs to its end;
  3. evaluate the frozen exported backbone with `pk-eval`'s protocols (in-process), on
   --label-fraction of the training labels (0.1 by default): weighted k-NN over k x T and
   linear probes over lrs, each chosen on the validation hold-out, accuracy on the test split.
A randomly initialised backbone of every architecture used, exported untrained and evaluated
the same way, is the reference row.

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
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from pretrainkit.config import config_dir
from pretrainkit.eval import evaluate as eval_backbone
from pretrainkit.pretrain import pretrain
from pretrainkit.run.export import save_backbone

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


def evaluate(run: Path, overrides: list[str], fraction: float, work: Path) -> dict[str, float]:
    """`pk-eval`'s protocols on the exported backbone in `run` (its `evaluate`, in-process):
    weighted k-NN over k x T and linear probes over lrs, each chosen on validation, scored on
    test, at `fraction` of the training labels; its table goes to `run/eval`."""
    data = [o for o in overrides if o.startswith(("dataset", "data."))]
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose(
            "eval",
            [
                f"pretrained={run}",
                f"label_fraction={fraction}",
                "logger=none",
                f"eval.cache_dir={work / 'features'}",
                *data,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(run / "eval")
    return eval_backbone(cfg)["metrics"]


def arch(cfg: DictConfig) -> str:
    b = cfg.backbone
    return str(b.get("name") or b._target_.rsplit(".", 1)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="pretraining budget per task")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument(
        "--label-fraction", type=float, default=0.1, help="labels pk-eval's protocols learn from"
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
        scores = evaluate(work / task, overrides, args.label_fraction, work)
        linear, knn = scores["test/linear_acc"], scores["test/knn_acc"]
        n_images = len(instantiate(cfg.dataset.source).unlabeled())
        epochs = steps * cfg.data.batch_size / n_images
        rows.append((task, arch(cfg), steps, epochs, wall, linear, knn))
        print(f"{task}: {steps} steps ({epochs:.1f} epochs) in {wall:.0f} s; "
              f"linear {linear:.3f}, knn {knn:.3f}", flush=True)  # fmt: skip
        if arch(cfg) not in baselines:  # the same architecture, exported untrained
            L.seed_everything(cfg.seed, verbose=False)
            run = work / f"random-{arch(cfg)}"
            meta = {"task": "random", "dataset": cfg.dataset.name}
            if cfg.modality == "image":
                meta |= {"in_chans": cfg.dataset.in_chans, "image_size": cfg.dataset.image_size}
            save_backbone(instantiate(cfg.backbone), run, meta)
            scores = evaluate(run, overrides, args.label_fraction, work)
            baselines[arch(cfg)] = scores["test/linear_acc"], scores["test/knn_acc"]

    for name, (linear, knn) in baselines.items():
        rows.append(("random init", name, 0, 0.0, 0.0, linear, knn))
    dataset = compose_cfg(overrides, work).dataset.name
    lines = [
        f"{dataset}, {args.minutes:g} min of pretraining per task on {platform.machine()} "
        f"({torch.get_num_threads()} threads), torch {torch.__version__}, batch "
        f"{compose_cfg(overrides, work).data.batch_size}; overrides: {' '.join(overrides)}; "
        f"pk-eval at {args.label_fraction:g} of the training labels (k, T and lr chosen on "
        "validation)",
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
