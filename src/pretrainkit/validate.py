"""Config checks before any work: an unknown key, a wrong type, a value out of range or a
backbone that cannot serve the task fails in the first seconds, in one line that names the
key, the value and a fix.

What a key may hold is read from types, not from lists kept here: `pretrainkit.schema` for the
keys no class owns, and for every `_target_` node the signature of its callable (argument
names, types, `Annotated[float, Range(...)]` bounds).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import pydoc
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import is_dataclass
from typing import Any, get_type_hints

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from pretrainkit.run.export import locate
from pretrainkit.schema import alternatives, mismatch, show

# Keys that `hydra.utils.instantiate` reads itself: not arguments of the target.
INSTANTIATE_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
REFERENCE = re.compile(r"\$\{([\w.]+)\}")  # ${augment.crop_scale}: another key's value
UNRESOLVED = object()  # an interpolation that resolves only in a Hydra run: ${hydra:...}
# Suggestions in messages, by modality.
EXAMPLES = {
    "image": {"task": "simclr", "backbone": "small_cnn", "dataset": "digits"},
    "text": {"task": "mlm", "backbone": "bert_small", "dataset": "fortunes"},
}


class ConfigError(ValueError):
    """A config that cannot work; the message is the one line that says how to fix it."""


def validate(cfg: DictConfig, schema: type) -> None:
    """Raise a ConfigError naming the first problem of `cfg`, a composed pretrain.yaml or
    finetune.yaml (`schema`: its class in `pretrainkit.schema`). Reads no data, builds nothing."""
    check_keys(cfg, schema)
    check_modalities(cfg)  # first: a text task on images leaves keys its data module lacks
    for path, node in target_nodes(cfg):
        check_target(path, node)
    check_epochs(cfg.trainer)
    check_pretrained(cfg)


def exit_on_config_error(main: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap an entry point: a ConfigError prints `error: <its line>` and exits with status 2 (a
    usage error) instead of a traceback, which HYDRA_FULL_ERROR=1 still shows. In a multirun
    `keep_sweeping`, applied inside this, records it as a failed job and the sweep goes on."""

    @functools.wraps(main)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return main(cfg)
        except ConfigError as err:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def check_keys(node: DictConfig, schema: type, path: str = "") -> None:
    """`node`'s keys against the dataclass `schema`: names (except in a `_target_` node, whose
    signature names its keys), types and ranges."""
    hints = get_type_hints(schema, include_extras=True)
    for key in node:
        where = _join(path, key)
        if key not in hints:
            if "_target_" in node or where == "hydra":
                continue
            raise _unknown(path, node, key, list(hints), f"a key of {path or 'the config'}")
        if is_dataclass(hints[key]):
            child = _resolved(node, key)
            if isinstance(child, DictConfig):
                check_keys(child, hints[key], where)
        else:
            check_value(where, node, key, hints[key])


def target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Every `_target_` node under `node`, with its path. Interpolations are not followed: the
    node one points to is visited where it is defined."""
    if isinstance(node, DictConfig) and "_target_" in node:
        yield path, node
    if isinstance(node, (DictConfig, ListConfig)):
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            if key == "hydra" or OmegaConf.is_interpolation(node, key):
                continue
            if not OmegaConf.is_missing(node, key):
                yield from target_nodes(node[key], _join(path, key))


def check_target(path: str, node: DictConfig) -> None:
    """A `_target_` node: its callable imports, and each key is one of its arguments, of the
    annotated type and range (keys that go to a `**kwargs` are only checked for `???`)."""
    target = _locate(path, node._target_)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return
    named = {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints = _hints(target)
    for key in node:
        if key in INSTANTIATE_KEYS:
            continue
        if key not in named and not takes_any:
            raise _unknown(path, node, key, list(named), f"an argument of {node._target_}")
        default = named[key].default if key in named else None
        check_value(_join(path, key), node, key, hints.get(key, Any), default)


def check_value(path: str, node: Any, key: Any, hint: Any, default: Any = None) -> None:
    """One value against its type hint. A value taken from another key (`${augment.crop_scale}`)
    is reported under that key, the one to fix."""
    if OmegaConf.is_missing(node, key):
        raise ConfigError(f"{path} is required (??? in the config); give it: {path}=<value>")
    value = _resolved(node, key)
    problem = None if value is UNRESOLVED else mismatch(value, hint)
    if problem is None:
        return
    source = REFERENCE.fullmatch(str(node._get_node(key)._value()))
    key_path = source[1] if source else path
    given = f"{key_path}={show(value)}" + (f" (as {path})" if source else "")
    raise ConfigError(f"{given} {problem}{_example(key_path, hint, default)}")


def check_epochs(trainer: DictConfig) -> None:
    """At least one epoch, unless `trainer.max_steps` bounds the run (Lightning's max_epochs=-1)."""
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    by_steps = epochs == -1 and isinstance(steps, int) and steps > 0
    if isinstance(epochs, int) and epochs < 1 and not by_steps:
        raise ConfigError(
            f"trainer.max_epochs={epochs} must be >= 1 (or -1 with "
            "trainer.max_steps=N); e.g. trainer.max_epochs=10"
        )


def check_pretrained(cfg: DictConfig) -> None:
    """`pretrained=` names an exported backbone: a pretrain run directory or its weights file
    (a study refuses any: it pretrains its own)."""
    if cfg.get("pretrained") is not None and cfg.study.task is None:
        try:
            locate(cfg.pretrained)
        except (OSError, ValueError) as err:
            raise ConfigError(str(err)) from None


def check_modalities(cfg: DictConfig) -> None:
    """Task, backbone and dataset must be for the same kind of data. A fine-tune of a pretrained
    run is left to its loading: the run brings its own backbone."""
    data, dataset = cfg.modality, f"dataset={cfg.dataset.name}"
    task = _locate("task", cfg.task._target_) if "task" in cfg else None
    if task is not None and task.modality != data:
        raise ConfigError(
            f"task={task.name} trains on {task.modality} but {dataset} holds {data}; pick "
            f"{_a(data)} task (e.g. task={EXAMPLES[data]['task']}) or {_a(task.modality)} "
            f"dataset (e.g. dataset={EXAMPLES[task.modality]['dataset']})"
        )
    if cfg.get("pretrained") is not None:
        return
    backbone = _option("backbone", cfg.backbone)
    kind = getattr(_locate("backbone", cfg.backbone._target_), "modality", data)
    if kind != data:
        user = f"task={task.name} trains on" if task is not None else f"{dataset} holds"
        raise ConfigError(
            f"{backbone} is {_a(kind)} backbone but {user} {data}; pick {_a(data)} "
            f"backbone (e.g. backbone={EXAMPLES[data]['backbone']})"
        )
    if task is not None:
        check_architecture(task, cfg.backbone, backbone)


def check_architecture(task: Any, backbone: DictConfig, name: str) -> None:
    """MAE masks a ViT's patches; a language-model task needs a model type its head exists for
    (GPT-2 has no masked-LM head), and next-token prediction a causal one (BERT would see the
    token it predicts)."""
    if task.name == "mae" and not _is_vit(backbone):
        raise ConfigError(
            f"task=mae masks the patches of a ViT, but {name} is not one; use backbone=vit_tiny"
        )
    model_type = (backbone.get("config") or {}).get("model_type")
    if getattr(task, "auto_class", None) is None or model_type is None or backbone.get("init_from"):
        return
    from transformers import CONFIG_MAPPING, AutoModelForCausalLM  # a text backbone loaded it

    from pretrainkit.backbones.text import CAUSAL_TYPES

    if model_type not in CONFIG_MAPPING:
        raise ConfigError(
            f"backbone.config.model_type={model_type} is not a transformers model type; "
            "e.g. bert or gpt2"
        )
    next_token = task.auto_class is AutoModelForCausalLM
    causal = model_type in CAUSAL_TYPES or bool(backbone.config.get("is_decoder"))
    heads = task.auto_class._model_mapping  # the config classes it has a head for
    if CONFIG_MAPPING[model_type] not in heads or (next_token and not causal):
        needs = (
            "a decoder, which sees only earlier tokens (e.g. backbone=gpt_small)"
            if next_token
            else "an encoder with a masked-LM head (e.g. backbone=bert_small)"
        )
        raise ConfigError(f"task={task.name} cannot train {name} ({model_type}): it needs {needs}")


def _is_vit(backbone: DictConfig) -> bool:
    """As TimmBackbone tells a ViT (backbones/timm.py)."""
    name = str(backbone.get("name", ""))
    return backbone._target_.endswith(".TimmBackbone") and name.startswith(("vit", "deit"))


def _example(path: str, hint: Any, default: Any) -> str:
    examples = [r.example for _, bounds in alternatives(hint) for r in bounds if r.example]
    if examples:
        return f"; e.g. {path}={examples[0]}"
    if default is None or default is inspect.Parameter.empty or mismatch(default, hint):
        return ""
    return f"; e.g. {path}={show(default)}"


def _unknown(path: str, node: DictConfig, key: Any, valid: list[str], what: str) -> ConfigError:
    """An unknown key: the closest valid one, with the value given, or the valid ones."""
    value = _resolved(node, key)
    given = "" if isinstance(value, (DictConfig, ListConfig)) else f"={show(value)}"
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.75)
    if close:
        fix = f"did you mean {_join(path, close[0])}{given}?"
    else:
        fix = f"its keys are {', '.join(valid)}"
    return ConfigError(f"{_join(path, key)}{given} is not {what}; {fix}")


def _locate(path: str, target: str) -> Any:
    try:
        found = pydoc.locate(target)
    except pydoc.ErrorDuringImport as err:
        raise ConfigError(
            f"{path}._target_={target} fails to import: {err.exc.__name__}: {err.value}"
        ) from None
    if found is None:
        raise ConfigError(f"{path}._target_={target} names nothing importable; check its spelling")
    return found


def _hints(target: Any) -> dict[str, Any]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return get_type_hints(inspect.unwrap(function), include_extras=True)
    except Exception:  # a name imported only for type checkers: check names, not types
        return {}


def _resolved(node: Any, key: Any) -> Any:
    try:
        return node[key]
    except Exception:
        return UNRESOLVED


def _option(group: str, node: DictConfig) -> str:
    """`backbone=bert_small` as the user chose it (in a Hydra run), else what the node says."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return f"{group}={choice}"
    return f"{group} {node.get('name') or node._target_.rsplit('.', 1)[-1]}"


def _a(modality: str) -> str:
    return f"an {modality}" if modality == "image" else f"a {modality}"


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
