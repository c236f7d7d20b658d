"""Where language-model pretraining time goes: tokenising, loading, the model, Lightning.

Measures, in one process and on the same composed config (default: task=mlm on fortunes):
  tokenize   tokens/s of training the tokenizer and building the memory-mapped token cache
             (a fresh cache directory, so nothing is reused), and the cache's size vs the corpus
  data       tokens/s of the packed-block DataLoader alone
  model      tokens/s of forward+backward+step on ready batches (plain PyTorch loop)
  lightning  tokens/s of pretrainkit's Lightning fit over the same number of steps
and prints the ratios. Tokens are block positions holding real (non-padding) tokens.

Run: .venv/bin/python benchmarks/text_pretrain.py [overrides...]   e.g. `task=clm`
"""

from __future__ import annotations

import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from pretrainkit.config import config_dir

STEPS = 20


def config(overrides: list[str], out: str):
    with initialize_config_dir(config_dir(), version_base="1.3"):
        return compose(
            "pretrain",
            [f"paths.output_dir={out}", f"paths.cache_dir={out}/cache", "logger=none",
             "callbacks=none", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
             "task=mlm", *overrides],
        )  # fmt: skip


def main(overrides: list[str]) -> None:
    out = tempfile.mkdtemp(prefix="pk-text-bench-")
    cfg = config(overrides, out)
    dm = instantiate(cfg.data)
    start = time.perf_counter()
    dm.setup()  # trains the tokenizer, tokenises the corpus into the cache
    prepare = time.perf_counter() - start
    tokens = dm.tokens
    cache_bytes = sum(p.stat().st_size for p in Path(out, "cache").rglob("tokens-*.bin"))
    corpus_bytes = sum(len(d.encode()) for d in instantiate(cfg.dataset.source).documents())

    def loader():
        return islice(iter(dm.train_dataloader()), STEPS)

    def count(batches) -> int:
        return sum(int(b["attention_mask"].sum()) for b in batches)

    start = time.perf_counter()
    batches = list(loader())
    data = count(batches) / (time.perf_counter() - start)
    n_tokens = count(batches)

    backbone = instantiate(cfg.backbone, **dm.backbone_kwargs)
    task = instantiate(cfg.task, backbone=backbone)
    trainer = instantiate(
        cfg.trainer, logger=False, callbacks=[], max_epochs=1, limit_train_batches=STEPS,
        limit_val_batches=0,
    )  # fmt: skip
    task.use_tokenizer(dm.tokenizer)  # what setup() does in trainer.fit
    opt = torch.optim.AdamW(task.parameters(), lr=1e-4)

    def step(batch: dict[str, torch.Tensor]) -> None:
        opt.zero_grad(set_to_none=True)
        task.token_loss(batch).loss.backward()
        opt.step()

    step(batches[0])  # warm-up
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    model = n_tokens / (time.perf_counter() - start)

    start = time.perf_counter()
    for batch in loader():
        step(batch)
    plain = n_tokens / (time.perf_counter() - start)

    start = time.perf_counter()
    trainer.fit(task, datamodule=dm)
    lightning = n_tokens / (time.perf_counter() - start)

    params = sum(p.numel() for p in backbone.parameters())
    print(f"{cfg.task._target_.rsplit('.', 1)[-1]} / {cfg.dataset.name} / "
          f"{backbone.hf_config.model_type} {params / 1e6:.1f}M params / batch "
          f"{cfg.data.batch_size} x {cfg.data.block_size} / {STEPS} steps, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"  tokenize   {len(tokens) / prepare:9.0f} tokens/s  ({len(tokens):,} tokens in "
          f"{prepare:.1f} s, tokenizer training included)")  # fmt: skip
    print(f"  cache      {cache_bytes:,} bytes for a {corpus_bytes:,}-byte corpus "
          f"({cache_bytes / corpus_bytes:.2f}x; {tokens.dtype} ids)")  # fmt: skip
    for name, value in [
        ("data", data),
        ("model", model),
        ("plain", plain),
        ("lightning", lightning),
    ]:
        print(f"  {name:10s} {value:9.0f} tokens/s")
    print(f"  the loader alone runs at {data / model:.0f}x the model's pace")
    print(f"  lightning / plain loop: {lightning / plain:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
