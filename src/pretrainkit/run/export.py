"""Exported backbones: weights as safetensors plus a YAML that says how to rebuild them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate
from safetensors.torch import load_file, save_file

from pretrainkit.backbones.base import Backbone
from pretrainkit.run.files import SPEC, WEIGHTS
from pretrainkit.run.io import atomic_write, sha256


def save_backbone(backbone: Backbone, dirpath: Path, metadata: dict[str, Any]) -> list[Path]:
    """Write `backbone.safetensors` and `backbone.yaml` into `dirpath`; return both paths."""
    dirpath.mkdir(parents=True, exist_ok=True)
    weights, spec = dirpath / WEIGHTS, dirpath / SPEC
    state = {k: v.detach().cpu().contiguous().clone() for k, v in backbone.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, tmp))
    info = {
        "backbone": backbone.spec,
        "feature_dim": backbone.feature_dim,
        "sha256": sha256(weights),
        **metadata,
    }
    atomic_write(spec, lambda tmp: Path(tmp).write_text(yaml.safe_dump(info, sort_keys=False)))
    return [weights, spec]


def locate(pretrained: str | os.PathLike) -> Path:
    """The weights file for `pretrained=`: a pretrain run directory or a .safetensors file."""
    path = Path(pretrained).expanduser()
    if path.is_dir():
        path = path / WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"pretrained={pretrained}: no {WEIGHTS} in that directory. Point pretrained= at a "
                f"pretrain run directory (it holds {WEIGHTS} once pretraining finished) or at the file."
            )
    elif not path.is_file():
        raise FileNotFoundError(f"pretrained={pretrained}: no such file or directory.")
    elif path.suffix != ".safetensors":
        raise ValueError(
            f"pretrained={pretrained}: expected a {WEIGHTS} file or a pretrain run directory."
        )
    return path


def read_spec(weights: Path) -> dict[str, Any] | None:
    """The `backbone.yaml` next to `weights`, if any."""
    spec = weights.with_name(SPEC)
    return yaml.safe_load(spec.read_text()) if spec.is_file() else None


def load_backbone(pretrained: str | os.PathLike, fallback: Any) -> tuple[Backbone, dict[str, Any]]:
    """Rebuild and load an exported backbone.

    The architecture comes from the `backbone.yaml` beside the weights; a bare weights file
    is loaded into `fallback` (the `backbone` config), which must then match it.
    """
    weights = locate(pretrained)
    info = read_spec(weights) or {}
    backbone: Backbone = instantiate(info.get("backbone", fallback))
    if info.get("sha256") and info["sha256"] != sha256(weights):
        raise ValueError(
            f"pretrained={pretrained}: {weights.name} does not match the checksum in {SPEC}; the file is corrupt or was replaced."
        )
    state, own = load_file(str(weights)), backbone.state_dict()
    missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
    mismatched = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        args = ", ".join(f"{k}={v}" for k, v in backbone.spec.items() if k != "_target_")
        raise ValueError(
            f"pretrained={pretrained} holds weights of a different backbone than "
            f"{backbone.spec['_target_']}({args}): {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(mismatched)} differently shaped tensors. Set backbone= to the one it was pretrained with."
        )
    backbone.load_state_dict(state)
    return backbone, info
