"""What each fast-path switch buys: a task's training step with one switch changed at a time.

Every variant is the same task, backbone and ready batches (views made once, on the device),
built from the config with its overrides; the switches are applied as a run applies them
(`trainer.precision`, `optim.optimizer.fused`, and the `FastPaths` callback's `setup` for
channels_last and torch.compile). Variants run in interleaved rounds, in a rotated order, so
drift on a shared machine hits all alike; the ratio is the median over rounds of base / variant
in the same round. `base` is fp32, eager, NCHW, torch's default AdamW; `defaults` is what a run
gets on this machine with no override.

  .venv/bin/python benchmarks/fast_paths.py                                   # SimCLR, ResNet-18, 32 px
  .venv/bin/python benchmarks/fast_paths.py --case simclr:small_cnn:32 --steps 10 --rounds 15
  .venv/bin/python benchmarks/fast_paths.py --variants base,bf16 --threads 1 --cpu-time
  .venv/bin/python benchmarks/fast_paths.py --json out.json   # also every figure as JSON
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.apply_func import move_data_to_device

sys.path.insert(0, str(Path(__file__).parent))
from throughput import Case, accelerator, autocast, build, cycle, sync  # noqa: E402

BASE = [
    "trainer.precision=32-true",
    "callbacks.fast.channels_last=false",
    "callbacks.fast.compile=false",
    "optim.optimizer.fused=false",
]
VARIANTS: dict[str, list[str]] = {
    "base": BASE,
    "bf16": [*BASE, "trainer.precision=bf16-mixed"],
    "channels_last": [*BASE, "callbacks.fast.channels_last=true"],
    "fused": [*BASE, "optim.optimizer.fused=true"],
    "compile": [*BASE, "callbacks.fast.compile=true"],
    "defaults": [],
}


def variant_step(
    case: Case, overrides: list[str], batch: int, device: torch.device, n_batches: int
) -> tuple[Callable[[], None], float, str]:
    """One variant's training step (over up to `n_batches` ready batches, in turn), the seconds
    its first two steps took (compilation included) and its precision."""
    torch.manual_seed(0)  # the same initial weights for every variant
    cfg, dm, task = build(case, batch, [accelerator(device), *overrides], 2 * batch * n_batches)
    trainer = L.Trainer(  # for its device
        accelerator=device.type, devices=1, logger=False, enable_progress_bar=False
    )
    instantiate(cfg.callbacks.fast).setup(trainer, task, "fit")  # channels_last, compile
    task.to(device).train()
    dm.setup("fit")
    batches = cycle(
        [
            dm.on_after_batch_transfer(move_data_to_device(b, device), 0)
            for b in islice(dm.train_dataloader(), n_batches)
        ]
    )
    optimizer = task.optimizer_factory(task.param_groups())
    precision = str(cfg.trainer.precision)
    bf16 = precision.startswith("bf16")

    def step() -> None:
        with autocast(device, bf16):
            loss = task.training_step(next(batches), 0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    step(), step()
    return step, time.perf_counter() - start, precision


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")  # self.log without a trainer; Lightning's hints
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", default="simclr:resnet18:32", help="task:backbone:size")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1, help="steps per round and variant")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as is)")
    parser.add_argument(
        "--cpu-time", action="store_true", help="process CPU time (1 thread, busy machine)"
    )
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available() and args.device != "cpu"
    device = torch.device("cuda" if cuda else "cpu")
    clock = time.process_time if args.cpu_time else time.perf_counter
    case, names = Case.parse(args.case), args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")

    steps, first, precision = {}, {}, {}
    for name in names:
        steps[name], first[name], precision[name] = variant_step(
            case, VARIANTS[name], args.batch, device, n_batches=4
        )
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync(device)
            start = clock()
            for _ in range(args.steps):
                steps[name]()
            sync(device)
            times[name].append((clock() - start) / args.steps)

    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.case} / batch {args.batch} / {where} / torch {torch.__version__} / "
          f"{args.rounds} rounds x {args.steps} steps, {'CPU' if args.cpu_time else 'wall'} time")  # fmt: skip
    print(f"  {'variant':14s} {'median ms':>10s} {'best ms':>9s} {'vs base':>8s} "
          f"{'first 2 steps':>14s}  precision")  # fmt: skip
    rows = {}
    for name in names:
        ratio = (
            statistics.median(b / t for b, t in zip(times["base"], times[name], strict=True))
            if "base" in times
            else float("nan")
        )
        print(f"  {name:14s} {1e3 * statistics.median(times[name]):10.1f} "
              f"{1e3 * min(times[name]):9.1f} {ratio:7.2f}x {first[name]:12.1f} s  "
              f"{precision[name]}")  # fmt: skip
        rows[name] = {"median_ms": 1e3 * statistics.median(times[name]),
                      "best_ms": 1e3 * min(times[name]), "vs_base": ratio,
                      "first_2_steps_s": first[name], "precision": precision[name]}  # fmt: skip
    if args.json:
        figures = {"case": args.case, "batch": args.batch, "device": where, "rounds": args.rounds,
                   "steps": args.steps, "variants": rows}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
