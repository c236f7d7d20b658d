"""What a config value may be: `Range`, the bound a number must keep (written on signatures as
`Annotated[float, Range(gt=0)]`), and `mismatch`, which says why a value does not fit a type
hint. Generic: nothing here knows a pretrainkit key."""

from __future__ import annotations

import collections.abc as abc
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from omegaconf import DictConfig, ListConfig

SEQUENCES = (list, tuple, abc.Sequence, abc.MutableSequence)
MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)
KINDS = {bool: "a bool", int: "an int", float: "a number", str: "a string", type(None): "null"}


@dataclass(frozen=True)
class Range:
    """The interval a number must lie in (`gt`/`ge`: above / at least; `lt`/`le`: below / at
    most); `example` is a value to suggest instead of a bad one (default: the parameter's
    default)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    example: str | None = None

    def __contains__(self, value: float) -> bool:
        return not (
            (self.gt is not None and value <= self.gt)
            or (self.ge is not None and value < self.ge)
            or (self.lt is not None and value >= self.lt)
            or (self.le is not None and value > self.le)
        )

    def refusal(self) -> str:
        """What a value outside says: "is outside (0, 1]", "must be > 0"."""
        low = self.gt if self.gt is not None else self.ge
        high = self.lt if self.lt is not None else self.le
        if low is not None and high is not None:
            left, right = "(" if self.gt is not None else "[", ")" if self.lt is not None else "]"
            return f"is outside {left}{low:g}, {high:g}{right}"
        if low is not None:
            return f"must be {'>' if self.gt is not None else '>='} {low:g}"
        return f"must be {'<' if self.lt is not None else '<='} {high:g}"


def mismatch(value: Any, hint: Any) -> str | None:
    """Why `value` cannot be a `hint` ("is a string, but it must be an int", "is outside
    (0, 1]"), or None when it fits."""
    arms = list(alternatives(hint))
    fitting = [bounds for tp, bounds in arms if _fits(value, tp)]
    if not fitting:
        if all(get_origin(tp) is Literal for tp, _ in arms):
            return f"is not one of {', '.join(show(o) for tp, _ in arms for o in get_args(tp))}"
        wanted = " or ".join(dict.fromkeys(_kind(tp) for tp, _ in arms))
        given = "a float" if type(value) is float else _kind(type(value))
        return f"is {given}, but it must be {wanted}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    broken = [[r for r in bounds if value not in r] for bounds in fitting]
    return broken[0][0].refusal() if all(broken) else None


def alternatives(
    hint: Any, bounds: tuple[Range, ...] = ()
) -> Iterator[tuple[Any, tuple[Range, ...]]]:
    """The alternatives of a type hint (`int | None`: int, None), each with its Ranges."""
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        yield from alternatives(base, bounds + tuple(e for e in extras if isinstance(e, Range)))
    elif get_origin(hint) in (Union, types.UnionType):
        for arm in get_args(hint):
            yield from alternatives(arm, bounds)
    else:
        yield hint, bounds


def show(value: Any) -> str:
    """A value as it is written in an override."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _fits(value: Any, tp: Any) -> bool:
    """Whether `value` can be a `tp`: strict for scalars, lists and mappings; any other class
    passes (a `_target_` node builds it, or the callee parses a string into it)."""
    origin = get_origin(tp) or tp
    if origin in (Annotated, Union, types.UnionType):
        return any(_fits(value, arm) for arm, _ in alternatives(tp))
    if origin is Literal:
        return value in get_args(tp)
    if tp is type(None):
        return value is None
    if tp in (bool, int, float, str):
        allowed = {bool: bool, int: int, float: (int, float), str: (str, int, float)}[tp]
        return isinstance(value, allowed) and (tp is bool or not isinstance(value, bool))
    if origin in SEQUENCES:
        return isinstance(value, (ListConfig, list, tuple)) and _items_fit(value, get_args(tp))
    if origin in MAPPINGS:
        return isinstance(value, (DictConfig, dict))
    return True


def _items_fit(items: Any, args: tuple[Any, ...]) -> bool:
    try:
        items = list(items)
    except Exception:  # an item that resolves only at run time
        return True
    if len(args) > 1 and Ellipsis not in args:  # tuple[float, float]
        return len(items) == len(args) and all(map(_fits, items, args))
    return not args or all(_fits(item, args[0]) for item in items)


def _kind(tp: Any) -> str:
    origin = get_origin(tp) or tp
    if tp in KINDS:
        return KINDS[tp]
    if origin is Literal:
        return "one of " + ", ".join(map(show, get_args(tp)))
    if origin in SEQUENCES or origin is ListConfig:
        items = [a for a in get_args(tp) if a is not Ellipsis]
        if len(items) == 1 and get_origin(items[0]) is Literal:  # Sequence[Literal["a", "b"]]
            return "a list of " + " | ".join(map(show, get_args(items[0])))
        count = f"{len(items)} " if len(items) > 1 else ""  # tuple[float, float]
        kinds = {_kind(a).split(" ", 1)[-1] for a in items}
        return f"a list of {count}{kinds.pop()}s" if len(kinds) == 1 else "a list"
    if origin in MAPPINGS or origin is DictConfig:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))
