"""Text end to end on the real fortunes corpus: MLM and CLM pretraining through the entry
points, the `save_pretrained` export, fine-tuning from it, and the clear errors on the way."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import logged, make_cfg, run_cli
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from pretrainkit.finetune import finetune
from pretrainkit.pretrain import pretrain

FORTUNES = Path("/usr/share/games/fortunes")


@pytest.fixture(autouse=True)
def _need_fortunes() -> None:
    if not (FORTUNES / "computers").is_file():
        pytest.skip("Debian's fortunes is not installed (make data)")


@pytest.mark.parametrize("task", ["mlm", pytest.param("clm", marks=pytest.mark.slow)])
def test_pretrain_exports_an_hf_model_that_finetunes(task: str, tmp_path: Path):
    from transformers import AutoModel, AutoTokenizer

    pre = tmp_path / "pre"
    metrics = pretrain(make_cfg("pretrain", [f"task={task}", "logger=csv"], pre))
    assert metrics["val/perplexity"] == pytest.approx(math.exp(metrics["val/loss"]), rel=1e-5)
    assert 0 <= metrics["val/acc"] <= 1 and math.isfinite(metrics["train/loss_epoch"])

    model = AutoModel.from_pretrained(pre / "hf")  # the export a transformers user loads
    tokenizer = AutoTokenizer.from_pretrained(pre / "hf")
    assert model.config.model_type == ("bert" if task == "mlm" else "gpt2")
    weights, loaded = load_file(pre / "backbone.safetensors"), model.state_dict()
    for name, tensor in weights.items():  # the same trained tensors in both exports
        assert torch.equal(loaded[name.removeprefix("model.")], tensor), name
    inputs = tokenizer(["Real programmers don't comment their code."], return_tensors="pt")
    assert model(**inputs).last_hidden_state.shape[-1] == model.config.hidden_size
    assert (pre / "tokenizer/tokenizer.json").is_file()

    ft = tmp_path / "ft"
    cfg = make_cfg(
        "finetune",
        ["dataset=fortunes", f"pretrained={pre}", "labels_per_class=4", "logger=csv"],
        ft,
    )
    result = finetune(cfg)
    saved = json.loads((ft / "metrics.json").read_text())
    assert saved["method"] == f"{task}-linear" and saved["num_labeled"] == 32
    assert 0 <= saved["test/acc"] <= 1 and "test/f1" in saved and result["task"] == task


@pytest.mark.slow
def test_mlm_loss_falls_on_fortunes(tmp_path: Path):
    overrides = [
        "task=mlm",
        "logger=csv",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=12",
        "trainer.limit_val_batches=4",
        "backbone.config.num_hidden_layers=2",
        "data.block_size=64",
    ]
    pretrain(make_cfg("pretrain", overrides, tmp_path))
    train = logged(tmp_path, "train/loss_epoch")
    val, accs = logged(tmp_path, "val/loss"), logged(tmp_path, "val/acc")  # token-weighted
    # An untrained model sits at about ln(vocab) = ln(8000) = 8.99; in 36 steps the model learns
    # the token statistics (val ~6.9) and keeps improving on the training blocks.
    # measured: train 8.08, 7.01, 6.88; val 7.20, 6.93, 6.95; val acc 0.055 (chance: 1/8000)
    assert len(train) == 3 and train == sorted(train, reverse=True) and train[-1] < train[0] - 0.5
    assert val[-1] < math.log(8000) - 1.5 and accs[-1] > 0.03


def test_image_task_on_text_and_text_backbone_on_images_fail_first(tmp_path: Path):
    with pytest.raises(ValueError, match="task=simclr trains on image but dataset=fortunes"):
        pretrain(make_cfg("pretrain", ["dataset=fortunes"], tmp_path / "a"))
    assert not (tmp_path / "a").exists()  # nothing was started
    with pytest.raises(ValueError, match="task=mlm trains on text but dataset=digits"):
        pretrain(make_cfg("pretrain", ["task=mlm", "dataset=digits"], tmp_path / "b"))


@pytest.mark.slow
def test_console_scripts_pretrain_then_finetune_pretrained_and_scratch(tmp_path: Path):
    """As a user runs it, with `make demo-text`'s configs in miniature: pk-pretrain
    experiment=demo_text, then a pk-finetune multirun of experiment=demo_text_finetune over
    pretrained/from-scratch with the pretrain run's tokenizer, W&B offline."""
    pre = tmp_path / "outputs/pre"
    run_cli(
        "pk-pretrain",
        "experiment=demo_text",
        "debug=fast",
        "trainer.accelerator=cpu",
        f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )
    assert list((pre / "wandb").glob("offline-run-*"))
    sweep = tmp_path / "outputs/ft"
    run_cli(
        "pk-finetune",
        "-m",
        "experiment=demo_text_finetune",
        f"pretrained={pre},null",
        f"data.tokenizer={pre}",
        "finetune_mode=finetune",
        "labels_per_class=4",
        "debug=fast",
        "trainer.accelerator=cpu",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]
    assert [r["method"] for r in results] == ["mlm-finetune", "scratch-finetune"]
    # the tokenizer was the pretrain run's in both: the scratch run trained none of its own
    assert (
        not (sweep / "1/tokenizer").exists()
        or (sweep / "1/tokenizer/tokenizer.json").read_text()
        == (pre / "tokenizer/tokenizer.json").read_text()
    )


def _pretrain(task: str, out: Path, *overrides: str) -> Path:
    """A tiny pretraining (2 batches of 32-token blocks, a 1,000-token vocabulary)."""
    backbone = ["backbone=bert_tiny"] if task == "mlm" else ["backbone.config.n_layer=2"]
    shrink = ["data.vocab_size=1000", "data.block_size=32", "logger=none"]
    pretrain(make_cfg("pretrain", [f"task={task}", *backbone, *shrink, *overrides], out))
    return out


@pytest.mark.slow  # ~15 s; the lr formula and pooling are unit-tested (test_layer_decay, backbones)
def test_lp_ft_of_a_text_encoder_with_layer_decay_and_cls_pooling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """LP-FT through pk-finetune on fortunes: the probe, then every layer at its decayed rate,
    features read at [CLS] although the encoder was pretrained with mean pooling."""
    import pretrainkit.finetune as finetune_module

    pre = _pretrain("mlm", tmp_path / "pre")
    seen: dict[str, Any] = {}

    class StageTwo(Callback):  # LP-FT's first stage has a trainer of its own
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            seen["lrs"] = sorted({g["initial_lr"] for g in trainer.optimizers[0].param_groups})
            seen["pooling"] = pl_module.backbone.pooling

    build_trainer = finetune_module.build_trainer

    def with_stage_two(cfg: Any, loggers: Any) -> Any:
        trainer = build_trainer(cfg, loggers)
        trainer.callbacks.append(StageTwo())
        return trainer

    monkeypatch.setattr(finetune_module, "build_trainer", with_stage_two)
    overrides = ["finetune_mode=lp_ft", "model.layer_decay=0.5", "model.backbone_lr_scale=1"]
    cfg = make_cfg(
        "finetune",
        ["dataset=fortunes", f"pretrained={pre}", *overrides, "backbone.pooling=cls",
         "labels_per_class=4", "logger=none"],
        tmp_path / "ft",
    )  # fmt: skip
    result = finetune(cfg)
    assert result["method"] == "mlm-lp_ft" and result["lp_stage"]["val/acc_best"] is not None
    assert (result["pooling"], result["layer_decay"]) == ("cls", 0.5)
    lr = result["lr"]  # bert_tiny: 2 blocks; the head at lr, then each layer below at half
    assert seen["lrs"] == pytest.approx([lr / 8, lr / 4, lr / 2, lr], rel=1e-9)
    assert seen["pooling"] == "cls"


def test_clm_backbone_is_read_with_the_pooling_a_finetune_chooses(tmp_path: Path):
    """`backbone.pooling` unset: the pretraining's (here `last`); set: the fine-tune's. The
    probes' cached features are kept apart by pooling, not shared."""
    pre = _pretrain("clm", tmp_path / "pre", "backbone.pooling=last")
    cache = tmp_path / "features"
    results = [
        finetune(make_cfg(
            "finetune",
            ["dataset=fortunes", f"pretrained={pre}", "finetune_mode=linear", *pooling,
             f"probe.cache_dir={cache}", "labels_per_class=4", "logger=none"],
            tmp_path / f"ft{i}",
        ))
        for i, pooling in enumerate([[], ["backbone.pooling=mean"]])
    ]  # fmt: skip
    assert [r["pooling"] for r in results] == ["last", "mean"]
    assert [r["method"] for r in results] == ["clm-linear"] * 2
    assert len(list(cache.glob("*.pt"))) == 6  # train, val, test for each pooling
