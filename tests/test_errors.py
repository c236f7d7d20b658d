"""One way to fail: every mistake in the user's input or data ends in `error: <one line>` naming
the value or file and the fix, exit status 2 and no traceback; a bug keeps its traceback.

Most rows run in-process (the config checks, a run's first steps, the data sources); a few go
through the console scripts, each one process (~8 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import make_cfg, run_cli
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset

from pretrainkit.config.checks import ConfigError
from pretrainkit.data.image.datasets import UnreadableImageError
from pretrainkit.data.image.folder import ImageFolder
from pretrainkit.data.tabular.files import TableFiles
from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.readers import UndecodableTextError
from pretrainkit.errors import (
    BadValueError,
    MissingFileError,
    UserError,
    exit_on_user_error,
    user_error,
)
from pretrainkit.run.resume import ResumeError, check_resumable
from pretrainkit.run.steps import start_run
from pretrainkit.run.sweeps import write_error


def test_user_errors_stay_the_builtins_they_were():
    for cls, builtin in [
        (ConfigError, ValueError),
        (ResumeError, ValueError),
        (BadValueError, ValueError),
        (MissingFileError, FileNotFoundError),
        (UnreadableImageError, OSError),
        (UndecodableTextError, UnicodeDecodeError),
    ]:
        assert issubclass(cls, UserError) and issubclass(cls, builtin), cls


def test_the_entry_point_says_a_user_error_in_one_line_and_lets_a_bug_show_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    @exit_on_user_error
    def bad_input() -> None:
        raise MissingFileError("dataset.source.root=/x: no such file or directory; set it")

    with pytest.raises(SystemExit) as exit_:
        bad_input()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "error: dataset.source.root=/x: no such file or directory; set it\n"
    )

    @exit_on_user_error
    def bug() -> None:
        raise ValueError("a bug: not the user's fault")  # a plain ValueError is no user error

    with pytest.raises(ValueError, match="a bug"):
        bug()
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # the traceback of a user error, when asked for
    with pytest.raises(MissingFileError):
        bad_input()


def raise_missing(root: str) -> None:
    raise MissingFileError(f"no such folder {root}; set dataset.source.root=<dir>")


class Unreadable(Dataset):
    """Fails in a loader worker, as an image that cannot be decoded does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> torch.Tensor:
        raise self.error


def test_a_user_error_is_found_inside_hydra_and_loader_worker_wrappers():
    with pytest.raises(Exception) as wrapped:  # Hydra's InstantiationException, from the error
        instantiate({"_target_": f"{__name__}.raise_missing", "root": "/nope"})
    assert user_error(wrapped.value) == (
        "MissingFileError",
        "no such folder /nope; set dataset.source.root=<dir>",
    )
    unreadable = UnreadableImageError("cannot decode image a.png; fix it\nor skip it")
    undecodable = UndecodableTextError("a.txt is not valid utf-8; set it", "utf-8", b"\xff", "x")
    for error in [unreadable, undecodable]:
        with pytest.raises(Exception) as caught:  # torch re-raises it with the worker's traceback
            next(iter(DataLoader(Unreadable(error), num_workers=1)))
        assert "DataLoader worker process" in str(caught.value)
        assert user_error(caught.value) == (type(error).__name__, str(error))
    with pytest.raises(ZeroDivisionError) as bug:  # a bug in a worker stays a bug
        next(iter(DataLoader(Unreadable(ZeroDivisionError("x")), num_workers=1)))
    assert user_error(bug.value) is None


def test_a_multirun_records_a_user_error_in_its_line(tmp_path: Path):
    try:
        instantiate({"_target_": f"{__name__}.raise_missing", "root": "/nope"})
    except Exception as err:
        write_error(tmp_path, err)
    recorded = json.loads((tmp_path / "error.json").read_text())["error"]
    assert recorded == "MissingFileError: no such folder /nope; set dataset.source.root=<dir>"


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """A folder of bad inputs: an empty folder, images and texts no one can read, a file that is
    not a weights file, a checkpoint of 5 epochs, a run directory Hydra made for a missing
    `resume=` target."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    for name in ("a.png", "b.jpg"):
        (tmp_path / "junk" / name).write_text("not an image")
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.txt").write_text("\n  \n")
    (tmp_path / "weights.safetensors").write_text("not safetensors")
    loops = {"fit_loop": {"epoch_progress": {"current": {"processed": 5}}}}
    torch.save({"epoch": 4, "loops": loops}, tmp_path / "five.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    (tmp_path / "hydra_made" / ".hydra" / "resumed-2026-01-01").mkdir(parents=True)
    (tmp_path / "hydra_made" / "pretrain.log").write_text("")
    return tmp_path


# (entry point, overrides, phrases the one line holds): refused by the config checks
BAD_PATHS = [
    ("pretrain", ["dataset=image_folder", "dataset.source.root={bad}/nope"], ["dataset.source.root={bad}/nope: no such file or directory", "set dataset.source.root="]),
    ("finetune", ["dataset=image_folder", "dataset.source.root={bad}/junk", "dataset.source.test_root={bad}/nope"], ["dataset.source.test_root={bad}/nope: no such file"]),
    ("pretrain", ["task=mlm", "dataset=text_files", "dataset.source.root={bad}/nope"], ["dataset.source.root={bad}/nope: no such file"]),
    ("pretrain", ["task=mlm", "dataset=hf_disk", "dataset.source.path={bad}/nope"], ["dataset.source.path={bad}/nope: no such file"]),
    ("pretrain", ["task=mlm", "dataset=fortunes", "dataset.source.root={bad}/nope"], ["dataset.source.root={bad}/nope: no such file", "sudo apt-get install fortunes"]),
    ("finetune", ["dataset=fashion_mnist", "dataset.source.root={bad}/nope"], ["dataset.source.root={bad}/nope: no such file", "dataset-fashion-mnist", "download=true"]),
    ("pretrain", ["ckpt_path={bad}/nope.ckpt"], ["ckpt_path={bad}/nope.ckpt: no such file", "checkpoints/last.ckpt"]),
    ("pretrain", ["task=mlm", "dataset=fortunes", "data.tokenizer={bad}/nope"], ["data.tokenizer={bad}/nope: no such file", "or null to train one"]),
    ("pretrain", ["task=mlm", "dataset=fortunes", "backbone=bert_small", "backbone.init_from={bad}/nope"], ["backbone.init_from={bad}/nope: no such file"]),
    ("finetune", ["pretrained={bad}/weights.safetensors"], ["{bad}/weights.safetensors is not a safetensors weights file", "pk-pretrain writes it"]),
    ("pretrain", ["resume={bad}/nope"], ["resume={bad}/nope: no such run directory"]),
    ("pretrain", ["resume={bad}/hydra_made"], ["resume={bad}/hydra_made: no such run directory"]),
    ("pretrain", ["task=scarf", "dataset=table_files", "dataset.source.path={bad}/nope.csv"], ["dataset.source.path={bad}/nope.csv: no such file"]),
    ("finetune", ["dataset=table_files", "dataset.source.path={bad}/empty", "dataset.source.test_path={bad}/nope.parquet"], ["dataset.source.test_path={bad}/nope.parquet: no such file"]),
    ("pretrain", ["task=vime", "dataset=mlbench", "dataset.source.root={bad}/nope"], ["dataset.source.root={bad}/nope: no such file", "make data", "r-cran-mlbench"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "overrides", "phrases"), BAD_PATHS)
def test_a_path_that_cannot_be_read_is_refused_by_the_config_checks(
    name: str, overrides: list[str], phrases: list[str], bad: Path
):
    from pretrainkit.config.schema import FinetuneConfig, PretrainConfig
    from pretrainkit.config.validate import validate

    cfg = make_cfg(name, [o.format(bad=bad) for o in overrides], bad / "run", shrink=False)
    with pytest.raises(UserError) as refused:
        validate(cfg, {"pretrain": PretrainConfig, "finetune": FinetuneConfig}[name])
    message = str(refused.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase.format(bad=bad) in message


def test_an_unreadable_path_is_refused(bad: Path, monkeypatch: pytest.MonkeyPatch):
    from pretrainkit.config.rules import check_paths

    monkeypatch.setattr("pretrainkit.config.rules.os.access", lambda path, mode: False)
    cfg = make_cfg("pretrain", ["dataset=image_folder", f"dataset.source.root={bad}/junk"])
    with pytest.raises(ConfigError, match=f"root={bad}/junk: not readable by this user"):
        check_paths(cfg)


def test_folders_without_usable_data_are_refused_naming_them(bad: Path):
    rows = [
        (lambda: ImageFolder(str(bad / "empty")).unlabeled(), f"no image files (.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff, .ppm, .pgm) under {bad}/empty"),
        (lambda: ImageFolder(str(bad / "junk")).unlabeled(), f"2 of 2 image files under {bad}/junk cannot be read"),
        (lambda: ImageFolder(str(bad / "junk"), on_bad_file="skip").unlabeled(), f"no readable images under {bad}/junk"),
        (lambda: ImageFolder(str(bad / "empty")).labeled("train"), f"labeled image folder {bad}/empty has no class subfolders"),
        (lambda: list(TextFiles(str(bad / "empty")).documents()), f"no text files match {bad}/empty"),
        (lambda: list(TextFiles(str(bad / "blank")).documents()), f"no non-empty documents in {bad}/blank"),
        (lambda: TableFiles(str(bad / "empty")).schema, f"{bad}/empty holds no table files (.csv, .tsv, .txt, .parquet, .pq)"),
        (lambda: TableFiles(str(bad / "junk")).schema, f"{bad}/junk holds no table files"),
    ]  # fmt: skip
    for make, phrase in rows:
        with pytest.raises(UserError) as refused:
            make()
        assert phrase in str(refused.value) and "\n" not in str(refused.value)


def test_a_checkpoint_is_refused_in_one_line_before_lightning_reads_it(bad: Path):
    cfg = make_cfg("pretrain", ["trainer.max_epochs=3", f"ckpt_path={bad}/five.ckpt"], bad / "a")
    with pytest.raises(BadValueError) as refused:
        start_run(cfg)
    assert str(refused.value) == (
        f"trainer.max_epochs=3 but ckpt_path={bad}/five.ckpt has already trained 5 epochs; set "
        "trainer.max_epochs above 5 to train further (e.g. trainer.max_epochs=8)."
    )
    cfg = make_cfg("pretrain", [f"ckpt_path={bad}/text.ckpt"], bad / "b")
    with pytest.raises(BadValueError, match=f"ckpt_path={bad}/text.ckpt: .* is not a checkpoint"):
        start_run(cfg)


def test_a_partial_save_left_by_a_kill_is_removed_on_the_next_start(bad: Path):
    run = bad / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes((bad / "five.ckpt").read_bytes())
    (run / "checkpoints" / ".last.ckpt.k1ll3d").write_bytes(b"half a checkpoint")
    started = start_run(make_cfg("pretrain", ["trainer.max_epochs=6"], run))  # auto_resume
    assert started.resumed and started.ckpt_path == str(run / "checkpoints" / "last.ckpt")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]


def test_resume_of_a_missing_directory_says_so(bad: Path):
    with pytest.raises(ResumeError, match="no such run directory"):
        check_resumable(bad / "hydra_made")  # Hydra made it for this launch: it never held a run
    assert not (bad / "hydra_made").exists()
    with pytest.raises(ResumeError, match="no checkpoints/last.ckpt"):  # a run's own directory
        check_resumable(bad / "empty")


def test_console_scripts_end_a_bad_input_in_one_line(bad: Path):
    """Three rows end to end: a config check, a resume target, a weights file read at load."""
    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.run.export import SPEC, save_backbone

    save_backbone(SmallCNN(in_chans=1), bad / "cnn", {})
    (bad / "cnn" / SPEC).unlink()  # a bare weights file: its keys say which backbone it is
    rows = [
        (["pk-pretrain", "dataset=image_folder", f"dataset.source.root={bad}/nope"], f"error: dataset.source.root={bad}/nope: no such file or directory"),
        (["pk-pretrain", f"resume={bad}/nope"], f"error: resume={bad}/nope: no such run directory"),
        (["pk-finetune", f"pretrained={bad}/cnn/backbone.safetensors", "backbone=resnet18"], f"error: pretrained={bad}/cnn/backbone.safetensors holds the weights of backbone=small_cnn"),
    ]  # fmt: skip
    for args, start in rows:
        proc = run_cli(*args, "logger=none", cwd=bad, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2 and "Traceback" not in out, out
        assert proc.stderr.strip().splitlines()[-1].startswith(start), proc.stderr
    assert "set backbone=small_cnn" in proc.stderr
    assert not (bad / "nope").exists()
