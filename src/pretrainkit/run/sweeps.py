"""Multiruns that survive their failures: a failing job leaves `error.json` in its run
directory and the sweep goes on; each finished job prints one line; when the sweep ends, the
launcher process reports the fine-tunes and names what failed."""

from __future__ import annotations

import functools
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from pretrainkit.errors import user_error
from pretrainkit.run.console import duration, in_multirun, terminal
from pretrainkit.run.files import ERROR, MARKERS, METRICS
from pretrainkit.run.io import write_json

__all__ = ["SweepEnd", "in_multirun", "job_overrides", "keep_sweeping", "write_error"]

log = logging.getLogger(__name__)


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
    """A multirun's terminal output: one line per finished job (its swept overrides, its
    metric, its wall time; a skipped job none), then at the end `pk-report` over its
    fine-tunes (report.md, plots, a W&B report run in the sweep's group) printed once, and a
    non-zero exit naming every failed job."""

    def __init__(self, report: bool = True) -> None:
        self.report = report
        self._swept: set[str] | None = None  # the overrides' keys that vary between jobs
        self._jobs: int | None = None
        self._started = time.monotonic()
        self._live = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._swept, self._jobs = sweep_plan(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._started = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        line = job_line(config, job_return, self._swept, time.monotonic() - self._started)
        if line is None:
            return
        # [job number from 1 / jobs]: the run directory is <sweep>/<number - 1>
        count = f"{config.hydra.job.num + 1}" + (f"/{self._jobs}" if self._jobs else "")
        line = f"[{count}] {line}"
        if live_terminal(config):  # one line that each job rewrites; every line in the log
            log.info(line)
            sys.stdout.write(f"\r\x1b[K{line}")
            sys.stdout.flush()
            self._live = True
        else:
            terminal.info(line)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._live:  # end the rewritten job line
            sys.stdout.write("\n")
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


def live_terminal(config: DictConfig) -> bool:
    """Whether job lines rewrite one terminal line: on a terminal, not verbose, and the jobs run
    one after another in this process (Hydra's basic launcher). In a pipe or a log file every
    job keeps its own line."""
    launcher = str(config.hydra.launcher.get("_target_", ""))
    return sys.stdout.isatty() and not config.get("verbose") and launcher.endswith("BasicLauncher")


def sweep_plan(config: DictConfig) -> tuple[set[str] | None, int | None]:
    """The keys a multirun sweeps (command line and `hydra.sweeper.params`), and how many jobs
    it launches when Hydra's basic sweeper can tell (None: unknown, e.g. an Optuna search)."""
    params = config.hydra.sweeper.get("params") or {}
    lines = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    try:
        parsed = {o.get_key_element(): o for o in OverridesParser.create().parse_overrides(lines)}
    except Exception:  # an Optuna search space is no override grammar: show every override
        return None, None
    swept = {k for k, o in parsed.items() if o.is_sweep_override()}
    jobs: int | None = None
    if str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        try:
            jobs = math.prod(len(list(parsed[k].sweep_string_iterator())) for k in swept)
        except Exception:  # a sweep the iterator cannot count (glob, range of floats)
            jobs = None
    return swept, jobs


def job_line(
    config: DictConfig, job_return: JobReturn, swept: set[str] | None, seconds: float
) -> str | None:
    """`<swept overrides>: <metric> (<wall time>)`, or `failed: <error>`; None for a job
    that skipped itself (it left no run behind)."""
    out = Path(config.hydra.runtime.output_dir)
    overrides = [
        _short(o) for o in config.hydra.overrides.task if swept is None or o.split("=")[0] in swept
    ]
    if job_return.status == JobStatus.FAILED:
        result = f"failed: {type(job_return._return_value).__name__}: {job_return._return_value}"
    elif (out / ERROR).is_file():
        result = f"failed: {_first_line(out / ERROR)}"
    elif job_return.return_value is None and not any((out / m).exists() for m in MARKERS):
        return None
    else:
        result = _metrics(config, job_return.return_value, out)
    return f"{' '.join(overrides)}: {result} ({duration(seconds)})"


def _short(override: str) -> str:
    """`pretrained=…/pretrain` for a long path: the line is for telling jobs apart."""
    key, _, value = override.partition("=")
    return f"{key}=…/{Path(value).name}" if "/" in value and len(value) > 24 else override


def _metrics(config: DictConfig, value: Any, out: Path) -> str:
    shown = []
    if isinstance(value, (int, float)):
        shown.append(f"{config.get('optimized_metric')} {value:.4g}")
    try:
        test = json.loads((out / METRICS).read_text()).get("test/acc")
    except (OSError, ValueError):
        test = None
    if isinstance(test, (int, float)):
        shown.append(f"test/acc {test:.4g}")
    return ", ".join(shown) or "done"
