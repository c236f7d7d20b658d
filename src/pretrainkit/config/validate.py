"""Config checks before any work: an unknown key, a wrong type, a value out of range or a
backbone that cannot serve the task, a path that does not exist fails in the first seconds, in one line that names the
key, the value and a fix.

What a key may hold is read from types, not from lists kept here (`checks`): `schema` for the
keys no class owns, and for every `_target_` node the signature of its callable (argument
names, types, `Annotated[float, Range(...)]` bounds). What types cannot say is in `rules`.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pretrainkit.config.checks import check_keys, check_target, target_nodes
from pretrainkit.config.rules import (
    check_baseline,
    check_epochs,
    check_modalities,
    check_paths,
    check_pretrained,
)


def validate(cfg: DictConfig, schema: type) -> None:
    """Raise a ConfigError naming the first problem of `cfg`, a composed pretrain.yaml or
    finetune.yaml (`schema`: its class in `pretrainkit.config.schema`). Reads no data, builds nothing."""
    check_keys(cfg, schema)
    check_modalities(cfg)  # first: a text task on images leaves keys its data module lacks
    check_baseline(cfg)
    for path, node in target_nodes(cfg):
        check_target(path, node)
    check_epochs(cfg.trainer)
    check_pretrained(cfg)
    check_paths(cfg)
