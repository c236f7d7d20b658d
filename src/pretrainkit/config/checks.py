"""Generic config checks, driven by types: each key of a node is one its schema dataclass or its
`_target_`'s signature names (else a did-you-mean error), holding a value of the annotated type
and `Range`. Nothing here knows a pretrainkit key: the domain's rules are in `rules`."""

from __future__ import annotations

import difflib
import inspect
import pydoc
import re
from collections.abc import Iterator
from dataclasses import is_dataclass
from typing import Any, get_type_hints

from omegaconf import DictConfig, ListConfig, OmegaConf

from pretrainkit.config.values import alternatives, mismatch, show
from pretrainkit.errors import UserError

# Keys that `hydra.utils.instantiate` reads itself: not arguments of the target.
INSTANTIATE_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
REFERENCE = re.compile(r"\$\{([\w.]+)\}")  # ${augment.crop_scale}: another key's value
UNRESOLVED = object()  # an interpolation that resolves only in a Hydra run: ${hydra:...}


class ConfigError(UserError, ValueError):
    """A config that cannot work; the message is the one line that says how to fix it."""


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
    target = locate_target(path, node._target_)
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


def locate_target(path: str, target: str) -> Any:
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


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
