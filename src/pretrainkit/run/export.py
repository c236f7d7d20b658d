"""Exported backbones: weights as safetensors plus a YAML that says how to rebuild them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pretrainkit.backbones.base import Backbone
from pretrainkit.errors import BadValueError, MissingFileError, UnreadableFileError
from pretrainkit.run.files import SPEC, WEIGHTS
from pretrainkit.run.io import atomic_write, sha256


def save_backbone(backbone: Backbone, dirpath: Path, metadata: dict[str, Any]) -> list[Path]:
    """Write `backbone.safetensors` and `backbone.yaml` into `dirpath`, and for a timm backbone
    also `timm/` as timm saves models (`run.timm_export`); return the files written."""
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
    from pretrainkit.backbones.timm import TimmBackbone  # timm loads only for its backbones

    if isinstance(backbone, TimmBackbone):
        from pretrainkit.run.timm_export import save_for_timm

        return [weights, spec, *save_for_timm(backbone, dirpath, metadata)]
    return [weights, spec]


# What a weights file is, and how to get one, for the messages that refuse one.
MAKE_WEIGHTS = (
    f"give the {WEIGHTS} a pretraining exports (pk-pretrain writes it, with {SPEC} beside it, "
    "into its run directory) or that run directory"
)


def locate(pretrained: str | os.PathLike) -> Path:
    """The weights file for `pretrained=`: a pretrain run directory or a .safetensors file,
    readable and with a safetensors header (a cheap check: the tensors are read later)."""
    path = Path(pretrained).expanduser()
    if path.is_dir():
        path = path / WEIGHTS
        if not path.is_file():
            raise MissingFileError(
                f"pretrained={pretrained}: no {WEIGHTS} in that directory. Point pretrained= at a "
                f"pretrain run directory (it holds {WEIGHTS} once pretraining finished) or at the file."
            )
    elif not path.is_file():
        raise MissingFileError(f"pretrained={pretrained}: no such file or directory.")
    elif path.suffix != ".safetensors":
        raise BadValueError(
            f"pretrained={pretrained}: expected a {WEIGHTS} file or a pretrain run directory."
        )
    if not os.access(path, os.R_OK):
        raise UnreadableFileError(f"pretrained={pretrained}: {path} is not readable by this user.")
    if (problem := _not_safetensors(path)) is not None:
        raise BadValueError(
            f"pretrained={pretrained}: {path} is not a safetensors weights file ({problem}); "
            f"{MAKE_WEIGHTS}."
        )
    return path


def _not_safetensors(path: Path) -> str | None:
    """Why `path` is not a safetensors file, or None: the format starts with the length of a
    JSON header (8 bytes, little-endian), then the header, which names each tensor."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 0 < length <= size - 8:
            return f"{size} bytes, without a safetensors header"
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return "its header is not JSON"
    return None if isinstance(header, dict) else "its header is not a JSON object"


def read_spec(weights: Path) -> dict[str, Any] | None:
    """The `backbone.yaml` next to `weights`, if any."""
    spec = weights.with_name(SPEC)
    return yaml.safe_load(spec.read_text()) if spec.is_file() else None


def saved_backbone(state: dict[str, Any]) -> str | None:
    """The backbone option (conf/backbone/) whose keys `state` holds, told from its key names
    and sizes; None when none of them has these keys."""
    keys = set(state)
    if any(k.startswith("features.") for k in keys):
        return "small_cnn"
    if "model.layer1.0.conv1.weight" in keys:
        return "resnet50" if "model.layer1.0.conv3.weight" in keys else "resnet18"
    if "model.patch_embed.proj.weight" in keys:  # the audio ViT's input norm has statistics
        return "audio_vit" if "norm.running_mean" in keys else "vit_tiny"
    if (embedded := state.get("model.embeddings.word_embeddings.weight")) is not None:
        return {128: "bert_tiny", 256: "bert_small"}.get(int(embedded.shape[1]))
    if "model.wte.weight" in keys:
        return "gpt_small"
    if any(k.startswith("cnn.features.") for k in keys):
        return "audio_cnn"
    if "model.cls_embedding.weight" in keys:
        return "ft_transformer"
    if any(k.startswith("blocks.0.") for k in keys):
        return "mlp"
    return None


def load_backbone(pretrained: str | os.PathLike, fallback: Any) -> tuple[Backbone, dict[str, Any]]:
    """Rebuild and load an exported backbone.

    The architecture comes from the `backbone.yaml` beside the weights; a bare weights file
    is loaded into `fallback` (the `backbone` config), which must then match it.
    """
    weights = locate(pretrained)
    info = read_spec(weights) or {}
    backbone: Backbone = instantiate(info.get("backbone", fallback))
    if info.get("sha256") and info["sha256"] != sha256(weights):
        raise BadValueError(
            f"pretrained={pretrained}: {weights.name} does not match the checksum in {SPEC}; the file is corrupt or was replaced."
        )
    try:
        state = load_file(str(weights))
    except SafetensorError as err:
        raise BadValueError(
            f"pretrained={pretrained}: {weights} is not a whole safetensors weights file ({err}); "
            f"{MAKE_WEIGHTS}."
        ) from err
    own = backbone.state_dict()
    missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
    mismatched = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        raise BadValueError(_other_backbone(pretrained, backbone, state, missing, mismatched))
    backbone.load_state_dict(state)
    return backbone, info


def _other_backbone(
    pretrained: Any, backbone: Backbone, state: dict[str, Any], missing: set, mismatched: list
) -> str:
    args = ", ".join(f"{k}={v}" for k, v in backbone.spec.items() if k != "_target_")
    built = f"{backbone.spec['_target_'].rsplit('.', 1)[-1]}({args})"
    counts = f"{len(missing)} of its tensors missing, {len(mismatched)} differently shaped"
    saved = saved_backbone(state)
    if saved is not None and saved == saved_backbone(backbone.state_dict()):
        return (
            f"pretrained={pretrained} holds the weights of a {saved} of other sizes than {built} "
            f"({counts}); set backbone.* to the sizes it was pretrained with (a run directory's "
            f"{SPEC} says them by itself)."
        )
    fix = f"set backbone={saved}" if saved else "set backbone= to the one it was pretrained with"
    return (
        f"pretrained={pretrained} holds the weights of "
        f"{f'backbone={saved}' if saved else 'another backbone'}, not of {built} ({counts}); "
        f"{fix} (a run directory's {SPEC} says it by itself)."
    )
