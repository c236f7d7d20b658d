"""What a run prints, and what only its log file keeps.

The terminal gets a run's own few lines (what it is about to do, its result; in a multirun one
line per finished job), its progress bar, and every warning or error that is not on the list
of known-harmless ones below. Everything else — Lightning's banners and tips, libraries' INFO
lines, the harmless warnings — goes only to the run's log file (`<run dir>/pretrain.log` or
`finetune.log`, Hydra's job log), which holds the whole run. `verbose=true` prints it all.

conf/hydra/default.yaml wires this in: `hydra.job_logging` gives the console handler a
`TerminalFilter` and the file handler everything from INFO up.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

TERMINAL = "pretrainkit.terminal"
terminal = logging.getLogger(TERMINAL)  # its INFO lines are the ones a quiet run prints


@dataclass(frozen=True)
class Harmless:
    """A warning known to be harmless here: `pattern` (a regex searched in the message) and
    why it can be ignored."""

    pattern: str
    why: str


# Known-harmless warnings: kept off the terminal, still in the run's log file. A new entry
# needs its reason; a warning that could mean something for some runs does not belong here.
HARMLESS: tuple[Harmless, ...] = (
    Harmless(
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        "raised inside Lightning 2.6 (lightning/pytorch/utilities/_pytree.py) by the installed "
        "torch's pytree module; nothing a run can change, and the call still works",
    ),
    Harmless(
        r"called with Trainer configured with multiple `ModelCheckpoint` callbacks",
        "fine-tunes keep best.ckpt and last.ckpt with two callbacks (conf/callbacks/"
        "finetune.yaml); the first, the monitored best.ckpt, is the one `test` should use",
    ),
)
_HARMLESS = re.compile("|".join(f"(?:{h.pattern})" for h in HARMLESS))


def harmless(message: str) -> bool:
    """Whether `message` is one of the known-harmless warnings."""
    return bool(_HARMLESS.search(message))


class TerminalFilter(logging.Filter):
    """The console handler's filter: the terminal logger's lines, warnings and errors not
    known to be harmless; everything when `verbose`."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose or record.name == TERMINAL:
            return True
        return record.levelno >= logging.WARNING and not harmless(record.getMessage())


class TerminalFormatter(logging.Formatter):
    """Lines as they are, warnings and errors prefixed with their level; a Python warning shows
    its first line (`file:line: Category: message`), without the source line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.name == TERMINAL or record.levelno < logging.WARNING:
            return text
        if record.name == "py.warnings":
            return text.strip().splitlines()[0]
        return f"{record.levelname.lower()}: {text}"


def terminal_filter(verbose: bool = False) -> TerminalFilter:
    """`hydra.job_logging`'s filter factory: runs as Hydra configures a job's logging, so it
    also routes what Lightning and `warnings` emit through the handlers it configures."""
    route_library_logs()
    return TerminalFilter(verbose)


def route_library_logs() -> None:
    """Send Lightning's loggers (`lightning` gives itself a stream handler on import;
    `lightning.pytorch` and `lightning.fabric` too, and stop propagating, when imported before
    logging is configured) and Python warnings to the root handlers, so the terminal filter
    sees them and the run's log file keeps them."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler and handler.stream in (
                sys.stderr,
                sys.stdout,
            ):
                logger.removeHandler(handler)
        logger.propagate = True
    logging.captureWarnings(True)


def wandb_settings(verbose: bool) -> dict[str, Any]:
    """W&B's settings for a run: no banner, run footer or sync hints unless `verbose`; its
    warnings and errors still print (WANDB_SILENT would hide those too). W&B reads whether to
    print its INFO lines once per process, from WANDB_SHOW_INFO, so that is set here, before
    its first run, unless the environment sets it already."""
    if verbose:
        return {}
    os.environ.setdefault("WANDB_SHOW_INFO", "false")
    return {"quiet": True, "show_info": False}


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def say(line: str) -> None:
    """A run's own line on the terminal (and in its log); in a multirun the sweep's line per
    job says it instead, so there it goes to the log file only."""
    if in_multirun():
        logging.getLogger(__name__).info(line)
    else:
        terminal.info(line)


def metrics_line(metrics: dict[str, Any], keys: list[str]) -> str:
    """`key value` for those of `keys` in `metrics`, comma-separated."""
    shown = [f"{k} {metrics[k]:.4g}" for k in dict.fromkeys(keys) if k in metrics]
    return ", ".join(shown) or "no metric"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def backbone_name(backbone: Any) -> str:
    """A backbone config's name (`name`, else its class), e.g. resnet18 or SmallCNN."""
    return str(backbone.get("name") or backbone["_target_"].rsplit(".", 1)[-1])
