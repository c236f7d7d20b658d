"""Speech end to end, as a user runs it: `make demo-audio`'s configs in miniature through the
console scripts; SimCLR's loss falls on real prompts; Audio-MAE's spectrogram ViT pretrained and
fine-tuned; a backbone of another rate or clip length is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import logged, make_cfg, run_cli

from pretrainkit.errors import BadValueError
from pretrainkit.finetune import finetune
from pretrainkit.pretrain import pretrain


@pytest.mark.slow
def test_simclr_audio_loss_falls_on_real_prompts(asterisk_root: str, tmp_path: Path):
    overrides = [
        "experiment=demo_audio",
        "data.batch_size=32",
        "monitor=none",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=6",
        "trainer.limit_val_batches=1",
    ]
    pretrain(make_cfg("pretrain", overrides, tmp_path))
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 4 and epochs[-1] < epochs[0], epochs
    assert (tmp_path / "backbone.safetensors").is_file()


@pytest.mark.slow
def test_console_scripts_pretrain_then_finetune_on_other_speakers(
    asterisk_root: str, tmp_path: Path
):
    pre = tmp_path / "outputs/pre"
    run_cli(
        "pk-pretrain", "experiment=demo_audio", "debug=fast", f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )  # fmt: skip
    assert (pre / "backbone.safetensors").is_file() and list((pre / "wandb").glob("offline-run-*"))
    sweep = tmp_path / "outputs/ft"
    run_cli(
        "pk-finetune", "-m", "experiment=demo_audio_finetune", f"pretrained={pre},null",
        "finetune_mode=linear", "labels_per_class=4", "debug=fast", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )  # fmt: skip
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]
    assert [r["method"] for r in results] == ["simclr_audio-linear", "scratch-linear"]
    assert all(r["num_labeled"] == 12 and 0 <= r["test/acc"] <= 1 for r in results)
    out = run_cli(
        "pk-finetune", "experiment=demo_audio_finetune", f"pretrained={pre}", "dataset.rate=16000",
        "logger=none", "debug=fast", f"hydra.run.dir={tmp_path / 'bad'}",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert out.returncode == 2 and "the backbone reads 8000 Hz audio" in out.stderr
    assert "Traceback" not in out.stderr


def test_audio_mae_pretrains_a_spectrogram_vit_that_fine_tunes(asterisk_root: str, tmp_path: Path):
    pre = tmp_path / "pre"
    small = ["data.clip_seconds=0.5", "logger=none"]
    pretrain(
        make_cfg(
            "pretrain",
            [
                "task=audio_mae",
                "backbone.model_kwargs.depth=1",
                "data.batch_size=16",
                "monitor=none",
                *small,
            ],
            pre,
        )
    )
    assert (pre / "backbone.safetensors").is_file()
    tune = ["dataset=asterisk", f"pretrained={pre}", "finetune_mode=finetune", "labels_per_class=4"]
    metrics = finetune(make_cfg("finetune", [*tune, *small], tmp_path / "ft"))
    assert metrics["method"] == "audio_mae-finetune" and 0 <= metrics["test/acc"] <= 1
    with pytest.raises(BadValueError, match="reads 0.5 s clips but data.clip_seconds=1.0"):
        finetune(make_cfg("finetune", [*tune, "data.clip_seconds=1.0"], tmp_path / "bad"))
