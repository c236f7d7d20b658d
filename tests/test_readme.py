"""Every command the README shows is valid: pk-* commands compose and build their parts
(the main flows also run for real in test_entrypoints.py), make targets exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from helpers import REPO, make_cfg
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("#")[0].strip() for block in BLOCKS for line in block.splitlines() if line.strip()
]
PK = [c for c in COMMANDS if c.startswith(("pk-pretrain", "pk-finetune", "pk-eval"))]


def first_of_sweeps(args: list[str]) -> list[str]:
    """A multirun's first job: each sweep replaced by its first value."""
    parsed = OverridesParser.create().parse_overrides(args)
    out = []
    for override in parsed:
        if override.is_sweep_override():
            out.append(f"{override.get_key_element()}={next(override.sweep_string_iterator())}")
        else:
            out.append(override.input_line)
    return out


def test_readme_shows_the_quickstart_and_some_commands():
    assert "make demo" in COMMANDS[0] and "make test" in COMMANDS[1]
    assert len(PK) >= 10


@pytest.mark.parametrize("command", PK)
def test_readme_pk_command_composes(command: str, tmp_path: Path):
    program, *args = command.split()
    args = [a for a in args if a not in ("-m", "--cfg", "job")]
    if program == "pk-eval":  # its first argument is the backbone
        from pretrainkit.eval import positional

        args = positional(args)
    cfg = make_cfg(program.removeprefix("pk-"), first_of_sweeps(args), tmp_path, shrink=False)
    OmegaConf.resolve(cfg)
    instantiate(cfg.data)
    # a tabular backbone's column counts come from the table, read only when a run starts
    columns = {"num_numeric": 2, "cardinalities": [3]} if cfg.modality == "tabular" else {}
    instantiate(cfg.backbone, **columns)


@pytest.mark.parametrize(
    "target", sorted({c.split()[1] for c in COMMANDS if c.startswith("make ")} | {"install"})
)
def test_readme_make_targets_exist(target: str):
    target = target if not target.startswith("TORCH_SPEC") else "install"
    assert re.search(rf"^{target}:", (REPO / "Makefile").read_text(), flags=re.M)


def test_other_readme_commands_are_known():
    known = (
        "make ",
        "pk-pretrain",
        "pk-finetune",
        "pk-report",
        "pk-eval",
        "wandb ",
        ".venv/bin/python ",
        "bash ",
        "DRY_RUN=1 bash ",
        "python -m pretrainkit.",
        "../shared/scripts/",  # the project's GPU-machine helpers, outside the repository
        "mkdir -p .gpudata",
    )
    assert all(c.startswith(known) for c in COMMANDS), [
        c for c in COMMANDS if not c.startswith(known)
    ]
    runs = [c.removeprefix("DRY_RUN=1 ").split() for c in COMMANDS]
    scripts = [w[1] for w in runs if w[0] in (".venv/bin/python", "bash") and w[1] != "-m"]
    assert all((REPO / s).is_file() for s in scripts), scripts
    modules = [w[2] for w in runs if w[:2] in (["python", "-m"], [".venv/bin/python", "-m"])]
    assert all(importlib.util.find_spec(m) for m in modules), modules
