"""The errors that mean the user's input is wrong (a config value, a path, a file, a resume
target, the data), and how the entry points end on one: `error: <message>`, exit status 2, no
traceback (HYDRA_FULL_ERROR=1 shows it). Any other exception is a bug and keeps its traceback.

Each error here is also the builtin it used to be (a ValueError, a FileNotFoundError...), so
code that catches those still does. Imports nothing of pretrainkit: every layer may raise them.
"""

from __future__ import annotations

import functools
import os
import pydoc
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# torch re-raises a DataLoader worker's exception with the worker's traceback as its message.
WORKER = re.compile(
    r"\ACaught \w+ in DataLoader worker process \d+\.\nOriginal Traceback \(most recent call last\):\n"
)
EXCEPTION_LINE = re.compile(r"^([\w.]+): ", re.M)  # `pretrainkit.data....Error: message`


class UserError(Exception):
    """Something the user gave cannot work; the message (one or two lines) names the value or
    file and the fix."""


class BadValueError(UserError, ValueError):
    """A value (a setting, a file's content) that cannot work."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder a setting names that does not exist or holds nothing usable."""


class UnreadableFileError(UserError, PermissionError):
    """A file or folder a setting names that this user cannot read."""


class RunExistsError(UserError, FileExistsError):
    """A run directory that already holds a run."""


def user_error(err: BaseException) -> tuple[str, str] | None:
    """`(its class name, its message)` if `err` is a user error, else None (a bug). Looks through
    the wrappers a user error reaches the entry point in: Hydra's instantiate (the error is the
    `__cause__`) and a DataLoader worker (torch's copy holds the worker's traceback as its
    message, or is a RuntimeError when the class cannot be rebuilt from one string)."""
    while err is not None:
        if (found := _from_worker(err)) is not None:
            return found
        if isinstance(err, UserError):
            return type(err).__name__, str(err)
        err = err.__cause__  # type: ignore[assignment]
    return None


def _from_worker(err: BaseException) -> tuple[str, str] | None:
    text = str(err)
    if not WORKER.match(text):
        return None
    for line in reversed(list(EXCEPTION_LINE.finditer(text))):  # the last exception raised
        cls = pydoc.locate(line[1])
        if isinstance(cls, type) and issubclass(cls, BaseException):
            if not issubclass(cls, UserError):
                return None
            return cls.__name__, text[line.end() :].rstrip("\n")
    return None


def exit_on_user_error(main: F) -> F:
    """Wrap an entry point: a user error prints `error: <its message>` to stderr and exits with
    status 2 (a usage error); HYDRA_FULL_ERROR=1 shows its traceback instead. Anything else
    propagates with its traceback. In a multirun `keep_sweeping`, applied inside this, records a
    failing job and the sweep goes on."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as err:
            found = user_error(err)
            if found is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {found[1]}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
