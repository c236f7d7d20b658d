"""Multiruns that survive their failures: a failing job leaves `error.json` in its run
directory and the sweep goes on; when it ends, the launcher process reports the fine-tunes and
names what failed."""

from __future__ import annotations

import functools
import json
import logging
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from pretrainkit.errors import user_error
from pretrainkit.run.files import ERROR, METRICS
from pretrainkit.run.io import write_json

log = logging.getLogger(__name__)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def write_error(run_dir: Path, err: BaseException) -> None:
    """`error.json`: the one-line error, its traceback and the job's overrides."""
    run_dir.mkdir(parents=True, exist_ok=True)
    found = user_error(err)  # unwrapped from Hydra's instantiate or a DataLoader worker
    if found is None:
        cause = err
        while cause.__cause__ is not None:  # Hydra wraps a target's error: name the real one
            cause = cause.__cause__
        found = type(cause).__name__, str(cause)
    payload = {
        "error": f"{found[0]}: {found[1]}".splitlines()[0],
        "traceback": "".join(traceback.format_exception(err)),
        "overrides": job_overrides(),
        "run_dir": str(run_dir.resolve()),
    }
    write_json(run_dir / ERROR, payload)


def _close_wandb() -> None:
    import wandb

    if wandb.run is not None:  # else the sweep's next job would log into the failed one's run
        wandb.finish(exit_code=1)


def keep_sweeping(main: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap an entry point so that, in a multirun only, a failing job writes `error.json`
    and returns NaN (what a sweeper reads as a failed trial) instead of ending the sweep."""

    @functools.wraps(main)
    def wrapper(cfg: DictConfig) -> Any:
        if not in_multirun():
            return main(cfg)
        try:
            return main(cfg)
        except Exception as err:
            if (found := user_error(err)) is not None:  # its line says it all
                log.error(f"this job's input is invalid; the sweep goes on: {found[1]}")
            else:
                log.exception(
                    "this job failed; the sweep goes on (error.json in its run directory)"
                )
            write_error(Path(cfg.paths.output_dir), err)
            _close_wandb()
            return math.nan

    return wrapper


def _first_line(error: Path) -> str:
    try:
        return json.loads(error.read_text())["error"]
    except (OSError, ValueError, KeyError):
        return "(unreadable error.json)"


class SweepEnd(Callback):
    """At the end of a multirun: `pk-report` over its fine-tunes (report.md, plots, a W&B
    report run in the sweep's group), then a non-zero exit naming every failed job."""

    def __init__(self, report: bool = True) -> None:
        self.report = report

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        if self.report and any(sweep.rglob(METRICS)):
            self._report(config, sweep)
        failed = sorted(sweep.rglob(ERROR))
        if failed:
            listing = "\n".join(f"  {p.parent}: {_first_line(p)}" for p in failed)
            log.error(
                f"{len(failed)} run(s) of this sweep failed; the others finished and are "
                f"reported in {sweep}. Each failed run's error.json says why:\n{listing}"
            )
            sys.exit(1)  # Hydra turns a callback's exceptions into warnings (exit status 0)

    @staticmethod
    def _report(config: DictConfig, sweep: Path) -> None:
        from pretrainkit.report import report

        wandb_cfg = (config.get("logger") or {}).get("wandb")
        use_wandb = bool(wandb_cfg) and wandb_cfg.get("mode") != "disabled"
        try:
            print(
                report(
                    sweep,
                    sweep,
                    wandb=use_wandb,
                    project=wandb_cfg.get("project") if use_wandb else None,
                    group=wandb_cfg.get("group") if use_wandb else None,
                )
            )
        except Exception:  # the runs are on disk whatever happens here: pk-report can redo it
            log.exception(f"the report of {sweep} failed; rerun it with `pk-report {sweep}`")
