"""Config checks before any work: every bad input below fails in one line naming the key, the
value and a fix; every shipped config passes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import FINETUNE_ONLY, make_cfg, options, run_cli
from hydra.errors import ConfigCompositionException

from pretrainkit.config.checks import ConfigError
from pretrainkit.config.schema import FinetuneConfig, PretrainConfig
from pretrainkit.config.validate import validate
from pretrainkit.errors import BadValueError, exit_on_user_error
from pretrainkit.run.export import load_backbone

SCHEMAS = {"pretrain": PretrainConfig, "finetune": FinetuneConfig}

# (entry point, overrides, the error, phrases its one line holds: key=value, why, the fix)
BAD = [
    ("finetune", ["label_fraction=1.5"], ConfigError, ["label_fraction=1.5 is outside (0, 1]", "e.g. label_fraction=0.1 (or labels_per_class=10)"]),
    ("finetune", ["label_fraction=0"], ConfigError, ["label_fraction=0 is outside (0, 1]"]),
    ("finetune", ["label_fraction=lots"], ConfigError, ["label_fraction=lots is a string, but it must be a number"]),
    ("finetune", ["labels_per_class=0"], ConfigError, ["labels_per_class=0 must be >= 1", "e.g. labels_per_class=10"]),
    ("finetune", ["labels_per_class=2.5"], ConfigError, ["labels_per_class=2.5 is a float, but it must be an int or null"]),
    ("finetune", ["optim.optimizer.lr=0"], ConfigError, ["optim.optimizer.lr=0 must be > 0", "e.g. optim.optimizer.lr=1e-3"]),
    ("pretrain", ["optim.optimizer.lr=-0.1"], ConfigError, ["optim.optimizer.lr=-0.1 must be > 0"]),
    ("pretrain", ["optim.optimizer.lr=fast"], ConfigError, ["optim.optimizer.lr=fast is a string, but it must be a number"]),
    ("pretrain", ["optim.weight_decay=-0.01"], ConfigError, ["optim.weight_decay=-0.01 must be >= 0", "e.g. optim.weight_decay=1e-4"]),
    ("pretrain", ["task=mae", "task.weight_decay=-1"], ConfigError, ["task.weight_decay=-1 must be >= 0", "e.g. task.weight_decay=0.05"]),
    ("pretrain", ["task=mae", "task.mask_ratio=1.0"], ConfigError, ["task.mask_ratio=1.0 is outside (0, 1)", "e.g. task.mask_ratio=0.75"]),
    ("pretrain", ["task=mae", "task.mask_ratio=0"], ConfigError, ["task.mask_ratio=0 is outside (0, 1)"]),
    ("pretrain", ["task=mlm", "task.mask_probability=1.2"], ConfigError, ["task.mask_probability=1.2 is outside (0, 1)", "e.g. task.mask_probability=0.15"]),
    ("pretrain", ["task=denoising_ae", "task.mask_ratio=1"], ConfigError, ["task.mask_ratio=1 is outside [0, 1)", "e.g. task.mask_ratio=0.25"]),
    ("pretrain", ["task.temperature=0"], ConfigError, ["task.temperature=0 must be > 0", "e.g. task.temperature=0.5"]),
    ("pretrain", ["task=byol", "task.base_momentum=1.5"], ConfigError, ["task.base_momentum=1.5 is outside [0, 1]"]),
    ("finetune", ["model.backbone_lr_scale=0"], ConfigError, ["model.backbone_lr_scale=0 must be > 0", "e.g. model.backbone_lr_scale=0.1"]),
    ("pretrain", ["data.batch_size=0"], ConfigError, ["data.batch_size=0 must be >= 1", "e.g. data.batch_size=64"]),
    ("finetune", ["trainer=ddp", "data.batch_size=-2"], ConfigError, ["data.batch_size=-2 must be >= 1"]),
    ("pretrain", ["trainer.max_epochs=0"], ConfigError, ["trainer.max_epochs=0 must be >= 1", "e.g. trainer.max_epochs=10"]),
    ("pretrain", ["trainer.max_epochs=abc"], ConfigError, ["trainer.max_epochs=abc is a string, but it must be an int or null"]),
    ("finetune", ["seed=abc"], ConfigError, ["seed=abc is a string, but it must be an int"]),
    ("finetune", ["freeze_backbone=maybe"], ConfigError, ["freeze_backbone=maybe is a string, but it must be a bool"]),
    ("finetune", ["study.seed=x"], ConfigError, ["study.seed=x is a string, but it must be an int"]),
    ("pretrain", ["augment.crop_scale=[0.3]"], ConfigError, ["augment.crop_scale=[0.3] (as augment.views.transform.transforms[1].scale) is a list, but it must be a list of 2 numbers"]),
    # a mistyped key that Hydra let through: added with +, or by an experiment file
    ("pretrain", ["task=mae", "+task.mask_ration=0.5"], ConfigError, ["task.mask_ration=0.5 is not an argument of pretrainkit.tasks.mae.MAE; did you mean task.mask_ratio=0.5?"]),
    ("pretrain", ["+trainer.max_epoch=3"], ConfigError, ["trainer.max_epoch=3 is not an argument of lightning.Trainer; did you mean trainer.max_epochs=3?"]),
    ("finetune", ["+label_fractoin=0.1"], ConfigError, ["label_fractoin=0.1 is not a key of the config; did you mean label_fraction=0.1?"]),
    ("finetune", ["+task.mask_ratio=0.5"], ConfigError, ["task is not a key of the config; its keys are task_name"]),
    ("finetune", ["+study.nmae=x"], ConfigError, ["study.nmae=x is not a key of study; did you mean study.name=x?"]),
    ("pretrain", ["task._target_=pretrainkit.tasks.simclr.SimCLRR"], ConfigError, ["task._target_=pretrainkit.tasks.simclr.SimCLRR names nothing importable"]),
    # choices that do not go together
    ("pretrain", ["backbone=bert_small"], ConfigError, ["is a text backbone but task=simclr trains on image", "e.g. backbone=small_cnn"]),
    ("pretrain", ["task=mae", "backbone=small_cnn"], ConfigError, ["task=mae masks the patches of a ViT", "use backbone=vit_tiny"]),
    ("pretrain", ["task=mae", "backbone=resnet18"], ConfigError, ["task=mae masks the patches of a ViT", "use backbone=vit_tiny"]),
    ("pretrain", ["task=mlm", "backbone=resnet18"], ConfigError, ["is an image backbone but task=mlm trains on text", "e.g. backbone=bert_small"]),
    ("pretrain", ["task=mlm", "backbone=gpt_small"], ConfigError, ["task=mlm cannot train", "(gpt2)", "e.g. backbone=bert_small"]),
    ("pretrain", ["task=clm", "backbone=bert_small"], ConfigError, ["task=clm cannot train", "(bert)", "e.g. backbone=gpt_small"]),
    ("pretrain", ["task=mlm", "backbone.config.model_type=bertt"], ConfigError, ["backbone.config.model_type=bertt is not a transformers model type"]),
    ("pretrain", ["dataset=fortunes"], ConfigError, ["task=simclr trains on image but dataset=fortunes holds text", "e.g. task=mlm"]),
    ("finetune", ["backbone=bert_small"], ConfigError, ["is a text backbone but dataset=digits holds image", "e.g. backbone=small_cnn"]),
    ("finetune", ["baseline=bow_logreg"], ConfigError, ["reads text but dataset=digits holds image", "e.g. dataset=fortunes"]),
    ("finetune", ["baseline=bow_logreg", "dataset=fortunes", "finetune_mode=linear"], ConfigError, ["fits its own classifier and trains no network; drop finetune_mode=linear"]),
    ("finetune", ["baseline=bow_logreg", "dataset=fortunes", "pretrained={weights}"], ConfigError, ["trains no network; drop pretrained="]),
    ("finetune", ["baseline=bow_logreg", "dataset=fortunes", "+baseline.max_iters=5"], ConfigError, ["baseline.max_iters=5 is not an argument of pretrainkit.baselines.text.BagOfWordsLogReg; did you mean baseline.max_iter=5?"]),
    ("finetune", ["baseline=bow_logreg", "dataset=fortunes", "baseline.max_iter=0"], ConfigError, ["baseline.max_iter=0 must be >= 1"]),
    # what must be given, and must exist
    ("pretrain", ["dataset=image_folder"], ConfigError, ["dataset.source.root is required (??? in the config); give it: dataset.source.root=<value>"]),
    ("finetune", ["pretrained=/no/such/run"], ConfigError, ["pretrained=/no/such/run: no such file or directory"]),
    # weights of another backbone: found when they are read (run/export.py), not from the config
    ("finetune", ["pretrained={weights}", "backbone=resnet18"], BadValueError, ["holds the weights of backbone=small_cnn, not of TimmBackbone(name=resnet18", "set backbone=small_cnn"]),
]  # fmt: skip


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A bare weights file (no backbone.yaml beside it) of the small CNN."""
    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.run.export import SPEC, save_backbone

    save_backbone(SmallCNN(in_chans=1), tmp_path / "cnn", {})
    (tmp_path / "cnn" / SPEC).unlink()
    return tmp_path / "cnn" / "backbone.safetensors"


def first_refusal(name: str, overrides: list[str], tmp_path: Path) -> Exception | None:
    """What stops `overrides` first: the config checks, then the pretrained weights' loading."""
    cfg = make_cfg(name, overrides, tmp_path / "run", shrink=False)
    try:
        validate(cfg, SCHEMAS[name])
        if cfg.get("pretrained"):
            load_backbone(cfg.pretrained, cfg.backbone)
    except Exception as err:
        return err
    return None


def case_id(name: str, overrides: list[str], *_: object) -> str:
    return f"{name} {' '.join(overrides)}"


@pytest.mark.parametrize(
    ("name", "overrides", "error", "phrases"), BAD, ids=[case_id(*c) for c in BAD]
)
def test_bad_input_fails_in_one_line(
    name: str, overrides: list[str], error: type, phrases: list[str], tmp_path: Path, weights: Path
):
    overrides = [o.format(weights=weights) for o in overrides]
    err = first_refusal(name, overrides, tmp_path)
    assert type(err) is error, err
    message = str(err)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message


@pytest.mark.parametrize(
    ("name", "overrides", "refusal"),
    [
        ("finetune", ["label_fractoin=0.1"], "Could not override 'label_fractoin'"),
        ("pretrain", ["trainer.max_epoch=3"], "Could not override 'trainer.max_epoch'"),
        ("pretrain", ["backbone=resnet19"], "Could not find 'backbone/resnet19'"),
    ],
)
def test_hydra_refuses_unknown_keys_and_options_itself(
    name: str, overrides: list[str], refusal: str, tmp_path: Path
):
    with pytest.raises(ConfigCompositionException, match=refusal):
        make_cfg(name, overrides, tmp_path)


IMAGE_BACKBONES = {"small_cnn", "resnet18", "resnet50", "vit_tiny"}
TEXT_BACKBONES = {"bert_small", "bert_tiny", "gpt_small"}
TABULAR_BACKBONES = {"mlp", "ft_transformer"}
AUDIO_BACKBONES = {"audio_cnn", "audio_vit"}
FITS = {"mae": {"vit_tiny"}, "mlm": {"bert_small", "bert_tiny"}, "clm": {"gpt_small"}}
FITS |= {"scarf": TABULAR_BACKBONES, "vime": TABULAR_BACKBONES, "simclr_audio": AUDIO_BACKBONES}
FITS["ijepa"] = {"vit_tiny"}
FITS["audio_mae"] = {"audio_vit"}


# one task per rule in the fast suite (every backbone composed per task: ~6 s a task here)
RULE_TASKS = {"simclr", "mae", "mlm", "scarf", "simclr_audio"}


@pytest.mark.parametrize(
    "task",
    [t if t in RULE_TASKS else pytest.param(t, marks=pytest.mark.slow) for t in options("task")],
)
def test_every_task_takes_the_backbones_it_can_train_and_refuses_the_others(
    task: str, tmp_path: Path
):
    everything = IMAGE_BACKBONES | TEXT_BACKBONES | TABULAR_BACKBONES | AUDIO_BACKBONES
    assert set(options("backbone")) == everything  # a new one: add it here
    for backbone in options("backbone"):
        overrides = [f"task={task}", f"backbone={backbone}"]
        err = first_refusal("pretrain", overrides, tmp_path)
        if backbone in FITS.get(task, IMAGE_BACKBONES):
            assert err is None, f"{overrides}: {err}"
        else:
            assert isinstance(err, ConfigError), f"{overrides}: {err!r}"


def shipped() -> list:
    """Every option of every config group, in the entry point it is for."""
    roots = {  # paths must exist: {tmp} is a folder
        "image_folder": ["dataset.source.root={tmp}"],
        "text_files": ["dataset.source.root={tmp}"],
        "hf_disk": ["dataset.source.path={tmp}"],
        "cifar10": ["dataset.source.root={tmp}"],
        "stl10": ["dataset.source.download=true"],  # a root that need not exist yet
        "table_files": ["dataset.source.path={tmp}"],
        "audio_folder": ["dataset.source.root={tmp}"],
    }
    cases = []
    for option in options("dataset"):
        text = ["task=mlm"] if option in {"fortunes", "text_files", "hf_disk"} else []
        text = ["task=scarf"] if option in {"letter", "mlbench", "table_files"} else text
        text = ["task=simclr_audio"] if option in {"asterisk", "audio_folder"} else text
        cases += [("pretrain", [f"dataset={option}", *text, *roots.get(option, [])])]
        cases += [("finetune", [f"dataset={option}", *roots.get(option, [])])]
    for group in ("experiment", "debug", "monitor", "hparams_search", "launcher", "trainer"):
        for option in options(group):
            name = "finetune" if "finetune" in option or option in FINETUNE_ONLY else "pretrain"
            text = ["dataset=fortunes"] if option.endswith("_text_finetune") else []
            text = ["dataset=letter"] if option.endswith("_tabular_finetune") else text
            text = ["dataset=asterisk"] if option.endswith("_audio_finetune") else text
            cases += [(name, [f"{group}={option}", *text])]
    cases += [(n, [f"{g}={o}"]) for n in SCHEMAS for g in ("logger", "optim") for o in options(g)]
    cases += [
        (
            "finetune",
            [f"baseline={o}", f"dataset={'fortunes' if o.startswith('bow') else 'letter'}"],
        )
        for o in options("baseline")
    ]
    return cases


GOOD_EDGES = [
    ("pretrain", ["trainer.max_epochs=-1", "+trainer.max_steps=100"]),  # a step budget
    ("pretrain", ["trainer=ddp", "trainer.devices=[0,1]", "data.batch_size=1"]),  # per process
    ("pretrain", ["trainer.devices=auto", "trainer.num_nodes=2"]),
    ("pretrain", ["task=denoising_ae", "task.mask_ratio=0"]),  # noise only
    ("pretrain", ["task=clm", "backbone=bert_small", "+backbone.config.is_decoder=true"]),
    ("finetune", ["label_fraction=1", "freeze_backbone=false"]),
    ("finetune", ["labels_per_class=1", "seed=3", "optim.optimizer.lr=1e-5"]),
    ("finetune", ["study.task=simclr", "+study.pretrain.trainer.max_epochs=3"]),
]


@pytest.mark.parametrize(
    ("name", "overrides"), shipped() + GOOD_EDGES, ids=[case_id(*c) for c in shipped() + GOOD_EDGES]
)
def test_shipped_configs_pass(name: str, overrides: list[str], tmp_path: Path):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    assert first_refusal(name, overrides, tmp_path) is None


def test_entry_point_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    @exit_on_user_error
    def main(cfg: object) -> None:
        raise ConfigError("x=0 must be > 0; e.g. x=1")

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(None)
    assert exit_.value.code == 2 and capsys.readouterr().err == "error: x=0 must be > 0; e.g. x=1\n"
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # the traceback, when asked for
    with pytest.raises(ConfigError):
        main(None)


def test_console_script_fails_in_seconds_in_one_line(tmp_path: Path):
    start = time.monotonic()
    proc = run_cli("pk-finetune", "label_fraction=1.5", "logger=none", cwd=tmp_path, check=False)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: label_fraction=1.5 is outside (0, 1]; e.g. label_fraction=0.1 "
        "(or labels_per_class=10)"
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert elapsed < 30  # ~10 s here, nearly all of it importing torch and Lightning
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.json"))


def test_multirun_records_each_bad_job_and_goes_on(tmp_path: Path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "pk-finetune", "-m", "label_fraction=1.5,2", "logger=none", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "2 run(s) of this sweep failed" in proc.stdout + proc.stderr
    errors = sorted(json.loads(p.read_text())["error"] for p in sweep.glob("*/error.json"))
    assert errors == [
        f"ConfigError: label_fraction={v} is outside (0, 1]; e.g. label_fraction=0.1 "
        "(or labels_per_class=10)"
        for v in ("1.5", "2")
    ]
    assert "Traceback" not in proc.stdout + proc.stderr
