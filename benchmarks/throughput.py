"""Training throughput of pretrainkit's pipeline against the usual one, per task x backbone.

For each case, in one process, with the same model, optimiser, precision and images:
  reference    a plain PyTorch loop whose DataLoader workers make the views image by image with
               the recipe's torchvision pipeline (augment.views): what most SSL code does today
  plain        the same plain loop on pretrainkit's pipeline: the loader only decodes, the
               views are made batched on the training device (augment.device_views)
  pretrainkit  `Trainer.fit` on that pipeline, with the run's config (precision, fast paths)
It prints samples/s, peak memory and (ViT and Transformer cases) model FLOPs utilisation, and
the ratios: pretrainkit / reference (what the pipeline buys) and pretrainkit / plain (Lightning's
overhead, 1.00 = none). `data` is the loader + augmentation alone, `model` the training step
alone on ready views: data / model < 1 means the model waits on data.

Images are real: random patches of scikit-learn's two bundled photographs (no download); text
is Debian's fortunes. Run on CPU or GPU (auto):
  .venv/bin/python benchmarks/throughput.py                      # this machine's default cases
  .venv/bin/python benchmarks/throughput.py --cases simclr:resnet18:32 mae:vit_base:224
  .venv/bin/python benchmarks/throughput.py --steps 30 -- trainer.precision=32-true
  .venv/bin/python benchmarks/throughput.py --json out.json   # also every figure as JSON
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.fabric.utilities.apply_func import move_data_to_device
from omegaconf import DictConfig, open_dict
from sklearn.datasets import load_sample_images
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from pretrainkit.config import config_dir
from pretrainkit.data.image.datasets import TensorImages
from pretrainkit.data.transformed import Transformed

# Dense bf16 tensor-core peaks (NVIDIA datasheets), for MFU. fp32 runs use the fp32 column.
GPU_PEAKS = {  # name fragment: (bf16, fp32) FLOP/s
    "H100 PCIe": (756e12, 51e12),
    "H100": (989.4e12, 66.9e12),
    "H200": (989.4e12, 66.9e12),
    "A100": (312e12, 19.5e12),
}
CPU_CASES = ["simclr:small_cnn:32", "simclr:resnet18:32", "byol:small_cnn:32",
             "mae:vit_tiny:32", "rotation:small_cnn:32", "mlm:bert_small:64"]  # fmt: skip
GPU_CASES = ["simclr:resnet18:32", "byol:resnet18:32", "simclr:resnet50:96", "mae:vit_tiny:32",
             "mae:vit_base:224", "mlm:bert_small:128", "clm:gpt_small:128"]  # fmt: skip
VIT_BASE = ["backbone=vit_tiny", "backbone.name=vit_base_patch16_224"]
TEXT_TASKS = ("mlm", "clm")


@dataclass
class Case:
    task: str
    backbone: str
    size: int  # image side, or text sequence length

    @classmethod
    def parse(cls, text: str) -> Case:
        task, backbone, size = text.split(":")
        return cls(task, backbone, int(size))

    @property
    def text(self) -> bool:
        return self.task in TEXT_TASKS

    def overrides(self, batch: int) -> list[str]:
        common = [f"task={self.task}", f"data.batch_size={batch}", "monitor=none"]
        if self.text:
            return [*common, "dataset=fortunes", f"backbone={self.backbone}",
                    f"data.block_size={self.size}"]  # fmt: skip
        backbone = VIT_BASE if self.backbone == "vit_base" else [f"backbone={self.backbone}"]
        patch = 16 if self.size >= 224 else 8 if self.size >= 64 else 4
        return [*common, *backbone, "dataset=image_folder", "dataset.source.root=unused",
                f"dataset.image_size={self.size}", f"dataset.patch_size={patch}",
                "data.augment_on=gpu"]  # fmt: skip


class PhotoPatches:
    """An unlabeled source of real colour images: random square patches (a sixth to all of the
    height) of scikit-learn's two bundled photographs, resized to `size`."""

    def __init__(self, size: int, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        photos = [torch.tensor(p).permute(2, 0, 1).float() for p in load_sample_images().images]
        patches = []
        for k in range(n):
            photo = photos[k % 2]
            side = int(torch.randint(max(size, 64), photo.shape[1] + 1, (1,), generator=g))
            i = int(torch.randint(0, photo.shape[1] - side + 1, (1,), generator=g))
            j = int(torch.randint(0, photo.shape[2] - side + 1, (1,), generator=g))
            patch = photo[None, :, i : i + side, j : j + side]
            patches.append(F.interpolate(patch, size=size, mode="area")[0].round().to(torch.uint8))
        self.images = TensorImages(torch.stack(patches))

    def unlabeled(self) -> TensorImages:
        return self.images


def compose_cfg(overrides: list[str], out: str) -> DictConfig:
    with initialize_config_dir(config_dir(), version_base="1.3"):
        return compose(
            "pretrain",
            [f"paths.output_dir={out}", f"paths.cache_dir={out}/cache", "logger=none",
             "trainer.enable_progress_bar=false", *overrides],
        )  # fmt: skip


def accelerator(device: torch.device) -> str:
    return f"trainer.accelerator={'cpu' if device.type == 'cpu' else 'gpu'}"


def build(
    case: Case, batch: int, overrides: list[str], n_images: int
) -> tuple[DictConfig, Any, L.LightningModule]:
    """The case's config (with `overrides`), data module and task, as a run builds them; images
    are `n_images` photo patches, text is the fortunes."""
    out = tempfile.mkdtemp(prefix="pk-bench-")
    cfg = compose_cfg([*case.overrides(batch), *overrides], out)
    source = {}
    if not case.text:
        with open_dict(cfg):
            cfg.data.source = None  # replaced by the photo patches
        source = {"source": PhotoPatches(case.size, n_images)}
    dm = instantiate(cfg.data, **source)
    backbone = instantiate(cfg.backbone, **getattr(dm, "backbone_kwargs", {}))
    return cfg, dm, instantiate(cfg.task, backbone=backbone)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:  # Linux: "5" resets the process's peak resident set size (VmHWM)
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@cache  # the CPU's is measured: once per process, not per case
def peak_flops(
    device: torch.device, bf16: bool, cpu_given: float | None = None
) -> tuple[float, str]:
    """The device's peak FLOP/s for MFU and where the figure comes from (a CPU's: `cpu_given`
    GFLOP/s if given, else measured)."""
    if device.type == "cpu" and cpu_given:
        return cpu_given * 1e9, "given (--cpu-peak)"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for fragment, peaks in GPU_PEAKS.items():
            if fragment in name:
                return peaks[0 if bf16 else 1], f"{name} datasheet, {'bf16' if bf16 else 'fp32'}"
        return float("nan"), f"{name}: no datasheet peak known"
    a = torch.randn(2048, 2048)
    a @ a
    best = float("inf")
    for _ in range(5):  # the best of 5 rounds: a busy moment must not lower the peak
        start = time.perf_counter()
        for _ in range(3):
            a @ a
        best = min(best, time.perf_counter() - start)
    return 3 * 2 * 2048**3 / best, "best fp32 2048x2048 matmul on this CPU"


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def timed_steps(
    task: L.LightningModule,
    batches: Iterable[Any],
    prepare: Callable[[Any], Any],
    device: torch.device,
    bf16: bool,
    warmup: int,
    steps: int,
) -> float:
    """Seconds for `steps` plain-PyTorch training steps after `warmup` ones."""
    optimizer = task.optimizer_factory(task.param_groups())  # the run's optimiser (fused or not)
    it: Iterator[Any] = iter(batches)
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        batch = prepare(move_data_to_device(next(it), device))
        with autocast(device, bf16):
            loss = task.training_step(batch, i)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - start


class StepTimer(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.warmup:
            sync(trainer.strategy.root_device)
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, *args: Any) -> None:
        sync(trainer.strategy.root_device)
        self.end = time.perf_counter()


def step_flops(task: L.LightningModule, batch: Any, device: torch.device, bf16: bool) -> float:
    """FLOPs of one training step's forward and backward (matmuls and convolutions)."""
    counter = FlopCounterMode(display=False)
    with counter, autocast(device, bf16):
        task.training_step(batch, 0).backward()
    task.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def cycle(batches: Iterable[Any]) -> Iterator[Any]:
    """Endless batches: a loader's epochs one after another (or a list, over and over)."""
    while True:
        yield from batches


def measure(case: Case, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    cuda = torch.cuda.is_available() and args.device != "cpu"
    device = torch.device("cuda" if cuda else "cpu")
    batch = args.batch or (256 if cuda else 64)
    if case.backbone == "vit_base" or case.backbone == "resnet50":
        batch = args.batch or (128 if cuda else 16)
    n_images = batch * (args.warmup + args.steps + 2)
    cfg, dm, task = build(case, batch, [accelerator(device), *extra], n_images)
    fast = [c for c in instantiate(cfg.callbacks).values() if type(c).__name__ == "FastPaths"]
    bf16 = str(cfg.trainer.precision).startswith("bf16")

    def fit() -> float:
        """pretrainkit: Lightning fit on its pipeline, the run's precision and fast paths."""
        timer = StepTimer(args.warmup)
        trainer = instantiate(
            cfg.trainer, logger=False, callbacks=[timer, *fast], enable_checkpointing=False,
            max_steps=args.warmup + args.steps, max_epochs=None, limit_val_batches=0,
            num_sanity_val_steps=0, enable_model_summary=False,
        )  # fmt: skip
        trainer.fit(task, datamodule=dm)
        task.to(device).train()
        task._trainer = None  # type: ignore[assignment]  # plain loops: self.log does nothing
        return timer.end - timer.start

    def prepare(b: Any) -> Any:  # pretrainkit's loader, views made after the transfer
        return dm.on_after_batch_transfer(b, 0)

    ref_loader = None
    if not case.text:  # the reference: per-image torchvision views in DataLoader workers
        views = instantiate(cfg.augment.views, _convert_="all")
        workers = args.workers if args.workers is not None else os.cpu_count() or 1
        ref_loader = DataLoader(
            Transformed(dm.source.unlabeled(), views, with_target=False), batch_size=batch,
            shuffle=True, drop_last=True, num_workers=workers, persistent_workers=workers > 0,
            pin_memory=cuda,
        )  # fmt: skip

    # Each pipeline `repeats` times, in turn, keeping the best: the machine's speed drifts
    # (other processes, clocks), and interleaving keeps the ratios honest when it does.
    pipelines: dict[str, Callable[[], float]] = {
        "pretrainkit": fit,
        "plain": lambda: timed_steps(
            task, cycle(dm.train_dataloader()), prepare, device, bf16, args.warmup, args.steps
        ),
    }
    if ref_loader is not None:
        loader = ref_loader
        pipelines["reference"] = lambda: timed_steps(
            task, cycle(loader), lambda b: b, device, bf16, args.warmup, args.steps
        )
    result: dict[str, Any] = {"batch": batch, "device": device, "repeats": args.repeats}
    for _ in range(args.repeats):
        for name, run in pipelines.items():
            reset_peak(device)
            rate, mb = batch * args.steps / run(), peak_mb(device)
            best = result.get(name, (0.0, 0.0))
            result[name] = (max(rate, best[0]), max(mb, best[1]))
    result["bf16"] = bf16
    result["data"] = data_rate(cycle(dm.train_dataloader()), prepare, device, batch, args.steps)
    if ref_loader is not None:
        result["ref_data"] = data_rate(cycle(ref_loader), lambda b: b, device, batch, args.steps)
        result["workers"] = ref_loader.num_workers

    # the model alone, on views made once
    ready = [prepare(move_data_to_device(b, device)) for b in islice(dm.train_dataloader(), 2)]
    seconds = timed_steps(task, cycle(ready), lambda b: b, device, bf16, 1, args.steps)
    result["model"] = batch * args.steps / seconds
    flops = step_flops(task, ready[0], device, bf16)
    peak, peak_source = peak_flops(device, bf16, args.cpu_peak)
    result["mfu"] = flops * result["model"] / batch / peak
    result["mfu_pretrainkit"] = flops * result["pretrainkit"][0] / batch / peak
    result["peak_source"] = peak_source
    return result


def data_rate(
    batches: Iterator[Any],
    prepare: Callable[[Any], Any],
    device: torch.device,
    batch: int,
    steps: int,
) -> float:
    """Samples/s of the loader and augmentation alone (to the device, views made)."""
    prepare(move_data_to_device(next(batches), device))
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        prepare(move_data_to_device(next(batches), device))
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def report(case: Case, r: dict[str, Any]) -> None:
    unit = "seq/s" if case.text else "img/s"
    vit = case.text or case.backbone.startswith("vit")
    head = f"{case.task} / {case.backbone} / {case.size}{'' if case.text else ' px'}"
    precision = "bf16-mixed" if r["bf16"] else "fp32"
    print(f"\n{head} / batch {r['batch']} / {r['device'].type} / {precision}")
    rows = [("pretrainkit", r["pretrainkit"]), ("plain", r["plain"])]
    if "reference" in r:
        rows.append((f"reference ({r['workers']} workers)", r["reference"]))
    for name, (rate, mb) in rows:
        print(f"  {name:24s} {rate:9.1f} {unit}   peak {mb:8.0f} MB")
    print(f"  {'data (pretrainkit)':24s} {r['data']:9.1f} {unit}")
    if "ref_data" in r:
        print(f"  {'data (reference)':24s} {r['ref_data']:9.1f} {unit}")
    print(f"  {'model alone':24s} {r['model']:9.1f} {unit}")
    if "reference" in r:
        print(f"  pretrainkit / reference: {r['pretrainkit'][0] / r['reference'][0]:.2f}x")
    print(f"  pretrainkit / plain loop: {r['pretrainkit'][0] / r['plain'][0]:.2f}x "
          f"(Lightning overhead {100 * (1 - r['pretrainkit'][0] / r['plain'][0]):+.1f}%)")  # fmt: skip
    print(f"  data / model: {r['data'] / r['model']:.2f}x (pretrainkit)"
          + (f", {r['ref_data'] / r['model']:.2f}x (reference)" if "ref_data" in r else ""))  # fmt: skip
    if vit:
        print(f"  MFU: {100 * r['mfu_pretrainkit']:.1f}% in pretrainkit, {100 * r['mfu']:.1f}% "
              f"model alone (peak: {r['peak_source']})")  # fmt: skip


def figures(case: Case, r: dict[str, Any]) -> dict[str, Any]:
    """A case's figures as plain JSON values: rates in samples/s, peaks in MB, MFU as a share."""
    out: dict[str, Any] = {"case": f"{case.task}:{case.backbone}:{case.size}",
                           "unit": "seq/s" if case.text else "img/s", "batch": r["batch"],
                           "device": str(r["device"]), "bf16": r["bf16"]}  # fmt: skip
    for name in ("pretrainkit", "plain", "reference"):
        if name in r:
            out[name], out[f"{name}_peak_mb"] = r[name]
    out |= {k: r[k] for k in ("data", "ref_data", "workers", "model") if k in r}
    if "reference" in r:
        out["vs_reference"] = r["pretrainkit"][0] / r["reference"][0]
    out["lightning_overhead"] = 1 - r["pretrainkit"][0] / r["plain"][0]
    out |= {"mfu": r["mfu_pretrainkit"], "mfu_model": r["mfu"], "peak_source": r["peak_source"]}
    return out


def main(argv: list[str]) -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no per-fit banners
    warnings.filterwarnings("ignore", message=".*self.log.*")  # plain loops log nothing
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", help="task:backbone:size, e.g. simclr:resnet18:32")
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps (default 20 GPU, 5 CPU)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 5/2)"
    )
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument(
        "--workers", type=int, default=None, help="reference loader workers (all cores)"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each pipeline, in turn; the best counts"
    )
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto")
    parser.add_argument("--json", type=Path, help="also write every case's figures here")
    parser.add_argument(
        "--cpu-peak", type=float, help="the CPU's fp32 GFLOP/s for MFU (default: measured, ~3 s)"
    )
    parser.add_argument("overrides", nargs="*", help="config overrides for every case, after --")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and args.device != "cpu"
    args.steps = args.steps or (20 if cuda else 5)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    cases = [Case.parse(c) for c in (args.cases or (GPU_CASES if cuda else CPU_CASES))]
    print(f"torch {torch.__version__}, lightning {L.__version__}, {os.cpu_count()} CPUs, "
          f"{torch.cuda.get_device_name() if cuda else 'no GPU'}; {args.steps} timed steps "
          f"after {args.warmup}, best of {args.repeats}")  # fmt: skip
    if not cuda:  # measured before any case runs: no loader workers, nothing else running
        print(
            f"CPU peak: {peak_flops(torch.device('cpu'), False, args.cpu_peak)[0] / 1e9:.0f} GFLOP/s fp32"
        )
    done = []
    for case in cases:
        result = measure(case, args, args.overrides)
        report(case, result)
        sys.stdout.flush()
        done.append(figures(case, result))
        if args.json:  # after every case: a time limit that cuts the run keeps the cases done
            args.json.write_text(json.dumps(done, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
