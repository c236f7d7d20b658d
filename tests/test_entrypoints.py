"""The two entry points, run in-process on every task x dataset, and as console scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers import (
    AUDIO_TASKS,
    TABULAR_TASKS,
    TEXT_TASKS,
    make_cfg,
    options,
    require_fashion_mnist,
    run_cli,
)
from omegaconf import open_dict
from safetensors.torch import load_file

from pretrainkit.finetune import finetune
from pretrainkit.pretrain import pretrain
from pretrainkit.run.io import sha256

DATASETS = ["digits", "fashion_mnist", "image_folder"]


def dataset_overrides(name: str, digits_folder: Path) -> list[str]:
    if name == "fashion_mnist":
        require_fashion_mnist()
    if name == "image_folder":  # real digits saved as PNGs, read back as RGB and upscaled
        return [
            "dataset=image_folder",
            f"dataset.source.root={digits_folder}",
            "dataset.image_size=16",
        ]
    return [f"dataset={name}"]


def slow_case(task: str, dataset: str) -> bool:
    """Every task on digits (DINO's runs: tests/tasks/test_dino.py), and SimCLR on the image
    folder, in the fast suite."""
    return (dataset != "digits" and (task, dataset) != ("simclr", "image_folder")) or task == "dino"


def task_dataset_cases() -> list:
    """Every image task on every image dataset (text: test_text.py, tables: test_tabular.py);
    the fast suite runs every task on digits and SimCLR on an image folder, `make test-full` the
    rest (Fashion-MNIST is 60k images to load and transform, ~20 s a run here)."""
    return [
        pytest.param(
            task,
            dataset,
            marks=[pytest.mark.slow] if slow_case(task, dataset) else [],
        )
        for task in options("task")
        if task not in TEXT_TASKS | TABULAR_TASKS | AUDIO_TASKS
        for dataset in DATASETS
    ]


@pytest.mark.parametrize(("task", "dataset"), task_dataset_cases())
def test_pretrain_then_finetune_in_process(
    task: str, dataset: str, tmp_path: Path, digits_folder: Path
):
    data = dataset_overrides(dataset, digits_folder)
    pre = tmp_path / "pre"
    metrics = pretrain(
        make_cfg("pretrain", [f"task={task}", *data, "logger=csv", "data.batch_size=64"], pre)
    )
    assert torch.isfinite(torch.tensor(metrics["train/loss_epoch"]))
    assert 0 <= metrics["val/knn_acc"] <= 1  # the k-NN monitor ran
    assert (pre / "checkpoints/last.ckpt").is_file() and (pre / "backbone.yaml").is_file()
    history = json.loads((pre / "history.json").read_text())  # the curve pk-report plots
    epochs = history["epoch"]
    assert epochs == list(range(1, len(epochs) + 1)) and len(history["minutes"]) == len(epochs)
    assert history["val/knn_acc"][-1] == pytest.approx(metrics["val/knn_acc"])
    spec = yaml.safe_load((pre / "backbone.yaml").read_text())  # checksum + the making config
    assert spec["sha256"] == sha256(pre / "backbone.safetensors")
    assert spec["config"]["task"]["_target_"].split(".")[-2] == task
    assert spec["config"]["seed"] == 0 and spec["config"]["paths"]["output_dir"] == str(pre)

    ft = tmp_path / "ft"
    result = finetune(
        make_cfg("finetune", [*data, f"pretrained={pre}", "logger=csv", "label_fraction=0.1"], ft)
    )
    saved = json.loads((ft / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["task"] == task and saved["dataset"] == dataset and 0 <= saved["test/acc"] <= 1
    assert 0 <= saved["val/acc_best"] <= 1 and "train/loss" in saved
    assert (ft / "csv/metrics.csv").is_file()


def test_linear_probe_keeps_backbone_and_full_finetune_changes_it(tmp_path: Path):
    pre = tmp_path / "pre"
    pretrain(make_cfg("pretrain", ["logger=none"], pre))
    before = load_file(str(pre / "backbone.safetensors"))
    for freeze in (True, False):
        cfg = make_cfg(
            "finetune",
            [f"pretrained={pre}", f"freeze_backbone={freeze}", "logger=none"],
            tmp_path / str(freeze),
        )
        with open_dict(cfg):
            cfg.callbacks.checkpoint.save_top_k = 0  # test the trained weights, not a checkpoint
            cfg.callbacks.checkpoint.monitor = None
        from hydra.utils import instantiate

        from pretrainkit.finetune import _backbone

        datamodule = instantiate(cfg.data)
        backbone, _ = _backbone(cfg, datamodule)
        model = instantiate(cfg.model, backbone=backbone, num_classes=10, pretrained=True)
        trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
        trainer.fit(model, datamodule=datamodule)
        after = model.backbone.state_dict()
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        same = not changed  # BN running stats included
        assert same is freeze


def test_finetune_keeps_best_and_final_checkpoints(tmp_path: Path):
    pre = tmp_path / "pre"
    pretrain(make_cfg("pretrain", ["logger=none"], pre))
    ft = tmp_path / "ft"
    frozen = [
        "optim.optimizer.lr=1e-30",  # (0 is refused)
        "trainer.max_epochs=3",
    ]  # val/acc never improves after epoch 1
    finetune(make_cfg("finetune", [f"pretrained={pre}", "logger=none", *frozen], ft))
    last = torch.load(ft / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(ft / "checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 2 and best["epoch"] < 2  # last is the final epoch, not the best one


def test_existing_run_directory_is_never_overwritten(tmp_path: Path):
    pretrain(make_cfg("pretrain", ["logger=none"], tmp_path))
    stamp = (tmp_path / "backbone.safetensors").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="already holds a run"):
        pretrain(make_cfg("pretrain", ["logger=none"], tmp_path))
    assert (tmp_path / "backbone.safetensors").stat().st_mtime_ns == stamp


def test_console_scripts_pretrain_then_multirun_finetune_with_wandb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The README's path: pk-pretrain, then a pk-finetune sweep over pretrained vs scratch;
    quiet (W&B too, without WANDB_SILENT), each run's whole log in its directory."""
    monkeypatch.delenv("WANDB_SILENT")
    pre = tmp_path / "pre"
    proc = run_cli("pk-pretrain", "debug=fast", f"hydra.run.dir={pre}", cwd=tmp_path)
    assert (pre / "backbone.safetensors").is_file()
    [wandb_pre] = list((pre / "wandb").glob("offline-run-*"))
    said = (proc.stdout + proc.stderr).splitlines()  # debug=fast: no progress bar
    assert said[0] == f"pretrain: SimCLR on digits, backbone SmallCNN, 1 epoch; outputs in {pre}"
    assert said[1].startswith("pretrain: done in ") and len(said) == 2, said
    assert "GPU available" in (pre / "pretrain.log").read_text()

    sweep = tmp_path / "sweep"
    proc = run_cli(
        "pk-finetune", "-m", "debug=fast", f"pretrained={pre},null", "label_fraction=0.05",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    said = (proc.stdout + proc.stderr).splitlines()
    jobs = [line for line in said if line.startswith("[")]
    assert [j.split(":")[0] for j in jobs] == ["[1/2] pretrained=…/pre", "[2/2] pretrained=null"]
    assert "val/acc_best" in jobs[0] and "test/acc" in jobs[0]
    table = [line for line in said if line.startswith("|")]
    assert sum(line.startswith("| labels") for line in table) == 1  # the report, once
    rest = [line for line in said if line not in jobs + table]
    assert all(line.startswith("warning: baseline") for line in rest), rest
    assert jobs[1] in (sweep / "1" / "finetune.log").read_text()
    runs = {json.loads(p.read_text())["method"]: p.parent for p in sweep.glob("*/metrics.json")}
    assert set(runs) == {"simclr-linear", "scratch-linear"}
    for run in runs.values():
        assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))
        assert (run / "checkpoints/last.ckpt").is_file()
    spec = (pre / "backbone.yaml").read_text()
    assert f"backbone-{wandb_pre.name.rsplit('-', 1)[-1]}" in spec  # the artifact fine-tunes use


@pytest.mark.slow  # the fast suite: test_validate.py, test_conf_groups.py (in one line, in seconds)
def test_bad_overrides_fail_fast_with_a_clear_message(tmp_path: Path):
    proc = run_cli("pk-finetune", "label_fraction=1.5", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "label_fraction=1.5 is outside (0, 1]" in proc.stderr
    proc = run_cli("pk-pretrain", "trainer.max_epoch=3", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "Could not override 'trainer.max_epoch'" in proc.stderr
    assert not list((tmp_path / "outputs").rglob("*.ckpt"))


def test_ddp_two_processes_on_cpu(tmp_path: Path):
    """A real 2-process DDP pretraining run over gloo, launched as a user would, with the views
    made batched in each rank's training process (data.augment_on=gpu, here on the CPU)."""
    run = tmp_path / "ddp"
    proc = run_cli(
        "pk-pretrain", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "debug=fast",
        "logger=csv", "data.batch_size=64", "data.augment_on=gpu", f"hydra.run.dir={run}",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr + "".join(p.read_text() for p in run.glob("*.log"))
    assert "MEMBER: 2/2" in out  # INFO lines: in the ranks' log files, not on the terminal
    assert "augmenting whole batches on the training device" in out
    assert (run / "backbone.safetensors").is_file() and (run / "checkpoints/last.ckpt").is_file()
    assert "train/loss_step" in (run / "csv/metrics.csv").read_text()


def test_backbone_for_another_image_size_is_refused_before_training(tmp_path: Path):
    pre = tmp_path / "pre"  # a ViT built for 28 px Fashion-MNIST-sized inputs ...
    from pretrainkit.run.export import save_backbone

    save_backbone(instantiate_backbone("vit_tiny", "dataset.image_size=28"), pre, {"in_chans": 1})
    cfg = make_cfg(
        "finetune", [f"pretrained={pre}", "logger=none"], tmp_path / "ft"
    )  # ... on 8 px digits
    with pytest.raises(
        ValueError, match=r"cannot take dataset=digits's images of shape \(1, 8, 8\)"
    ):
        finetune(cfg)
    assert not (tmp_path / "ft" / "checkpoints").exists()


def instantiate_backbone(name: str, *overrides: str):
    from hydra.utils import instantiate

    return instantiate(make_cfg("pretrain", [f"backbone={name}", *overrides], None).backbone)


def test_metrics_keep_every_epochs_validation_history(tmp_path: Path):
    """The history survives testing from best.ckpt (which restores callback states): best is
    made the first epoch here by ranking checkpoints by the highest val/loss."""
    overrides = [
        "logger=none", "trainer.max_epochs=3", "callbacks.checkpoint.monitor=val/loss",
        "callbacks.checkpoint.mode=max", "label_fraction=0.1",
    ]  # fmt: skip
    result = finetune(make_cfg("finetune", overrides, tmp_path))
    history = result["history"]
    assert history["epoch"] == [1, 2, 3]
    assert len(history["val/acc"]) == 3 and history["val/acc"][-1] == pytest.approx(
        result["val/acc"]
    )
    assert history["val/loss"][0] == pytest.approx(max(history["val/loss"]))  # best was epoch 1
