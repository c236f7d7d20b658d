"""The Makefile's multi-step recipes — `make demo`, `make demo-text`, `make demo-tabular`,
`make demo-audio`, `make study` — as the console-script calls a user would type, run in
order, stopping at the first that fails:

  python -m pretrainkit.run.recipes demo [--lrs 0.001,0.003,0.01]
  python -m pretrainkit.run.recipes demo-text [--fractions 0.05]
  python -m pretrainkit.run.recipes demo-tabular
  python -m pretrainkit.run.recipes demo-audio
  python -m pretrainkit.run.recipes study [-- extra overrides]
  python -m pretrainkit.run.recipes study-fashion [--tiny]
  python -m pretrainkit.run.recipes demo --dry-run      # print the commands, run nothing

Each run gets its own timestamped directory; the fine-tune sweep's report (printed once, at the
sweep's end) is also copied to `outputs/<recipe>/`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pretrainkit.run.files import REPORT, RESULTS, SUMMARY

FORTUNES = Path("/usr/share/games/fortunes")
FASHION = Path("/usr/share/datasets/fashion-mnist")
SOUNDS = Path("/usr/share/asterisk/sounds/it_IT_f_Menardi")
TEXT_LRS = "0.001,0.003,0.01"  # 0.0003 was never chosen on the fortunes demo; 0.003 was the top
TABULAR_LRS = "0.001,0.003,0.01,0.03"  # measured: pretrained rows chose 0.003 and scratch 0.01-0.03
AUDIO_LRS = "0.001,0.003"  # two: a full fine-tune costs ~35 s here, the demo ~10 min
JOBS = 2  # fine-tunes at a time, one torch thread each: ~1.4x the work of one on 2 cores


def parallel(jobs: int = JOBS) -> list[str]:
    """A multirun's overrides to run `jobs` (at most JOBS) at a time; n_jobs=1 runs in-process
    on every core (joblib's workers get one torch thread each)."""
    return ["launcher=joblib", f"hydra.launcher.n_jobs={min(jobs, JOBS)}"]


@dataclass
class Later:
    """Commands that depend on what the earlier ones produced (e.g. the lr a search chose),
    made when their turn comes; `describe` stands in for them in a dry run."""

    describe: str
    make: Callable[[], list[list[str]]]


@dataclass
class Recipe:
    """Commands to run in order, a sweep whose report to copy when they all succeed (its
    directory, the destination), and where results are."""

    commands: list[list[str] | Later]
    report: tuple[str, str] | None = None
    result: str = ""
    result_on_failure: bool = False  # a sweep writes its report even when some jobs failed


def pretrain_then_finetune(
    folder: str,
    experiment: str,
    stamp: str,
    sweep: list[str],
    floors: list[list[str]] | None = None,
) -> Recipe:
    """pk-pretrain `experiment`, then a pk-finetune multirun of `<experiment>_finetune` over that
    backbone and scratch (`sweep`: the other swept overrides), in outputs/<folder>/runs/<stamp>;
    the sweep's report is copied to outputs/<folder>/. `floors`: classical baselines' overrides
    (`baseline=bow_logreg label_fraction=...`), each fit over the same seeds before the sweep,
    into its directory (`finetune/<baseline>/`, without a report of its own), so the sweep's
    report shows them as rows."""
    run = f"outputs/{folder}/runs/{stamp}"
    group = f"logger.wandb.group={folder.replace('_', '-')}-{stamp}"
    finetune = ["pk-finetune", "-m", f"experiment={experiment}_finetune", group]
    commands = [["pk-pretrain", f"experiment={experiment}", group, f"hydra.run.dir={run}/pretrain"]]
    for floor in floors or []:
        name = next(o.partition("=")[2] for o in floor if o.startswith("baseline="))
        commands.append(
            [*finetune, *floor, "seed=0,1,2", "++hydra.callbacks.sweep_end.report=false",
             f"hydra.sweep.dir={run}/finetune/{name}"]
        )  # fmt: skip
    commands.append(
        [*finetune, f"pretrained={run}/pretrain,null", *sweep, "seed=0,1,2",
         f"hydra.sweep.dir={run}/finetune"]
    )  # fmt: skip
    return Recipe(
        commands,
        (f"{run}/finetune", f"outputs/{folder}"),
        f"runs in {run}, table in outputs/{folder}/report.md",
    )


def demo(stamp: str, lrs: str) -> Recipe:
    sweep = ["finetune_mode=linear,finetune,lp_ft", f"optim.optimizer.lr={lrs}",
             "label_fraction=0.01,0.1"]  # fmt: skip
    return pretrain_then_finetune("demo", "demo", stamp, sweep)


def demo_text(stamp: str, fractions: str, lrs: str = TEXT_LRS) -> Recipe:
    tokenizer = f"data.tokenizer=outputs/demo_text/runs/{stamp}/pretrain"  # the pretraining's
    sweep = [tokenizer, "finetune_mode=linear,finetune,lp_ft", f"optim.optimizer.lr={lrs}",
             f"label_fraction={fractions}", *parallel()]  # fmt: skip
    floor = ["baseline=bow_logreg", f"label_fraction={fractions}"]  # the classical floor
    return pretrain_then_finetune("demo_text", "demo_text", stamp, sweep, [floor])


def demo_audio(stamp: str, lrs: str = AUDIO_LRS) -> Recipe:
    sweep = ["finetune_mode=linear,finetune,lp_ft", f"optim.optimizer.lr={lrs}",
             "label_fraction=0.05", *parallel()]  # fmt: skip
    return pretrain_then_finetune("demo_audio", "demo_audio", stamp, sweep)


def demo_tabular(stamp: str, lrs: str = TABULAR_LRS) -> Recipe:
    fractions = "label_fraction=0.01,0.1"
    sweep = ["finetune_mode=linear,finetune,lp_ft", f"optim.optimizer.lr={lrs}", fractions,
             *parallel()]  # fmt: skip
    floors = [[f"baseline={name}", fractions] for name in ("gbdt", "logreg")]  # what trees get
    return pretrain_then_finetune("demo_tabular", "demo_tabular", stamp, sweep, floors)


def study(stamp: str, overrides: list[str]) -> Recipe:
    run = f"outputs/study/label_efficiency/{stamp}"
    return Recipe(
        [
            [
                "pk-finetune",
                "-m",
                "experiment=label_efficiency",
                f"hydra.sweep.dir={run}",
                *overrides,
            ]
        ],
        result=f"report in {run}/report.md",
        result_on_failure=True,
    )


def fashion_recipe(stamp: str, tiny: bool) -> Recipe:
    from pretrainkit.run.fashion_study import FULL, TINY, study_fashion

    return study_fashion(stamp, TINY if tiny else FULL)


def script(name: str) -> str:
    """A console script from this interpreter's environment (the venv's), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def copy_report(sweep: str, dest: str) -> None:
    """The files `pk-report` wrote into `sweep` (report.md, its plots, results.json,
    summary.json), copied into `dest`."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    for path in Path(sweep).iterdir():
        if path.name in (REPORT, RESULTS, SUMMARY) or path.suffix == ".png":
            shutil.copy2(path, dest)


def run(name: str, recipe: Recipe, dry_run: bool = False) -> int:
    start, code = time.monotonic(), 0
    pending = list(recipe.commands)
    while pending:
        command = pending.pop(0)
        if not isinstance(command, list):  # a Later (its class is __main__'s under -m)
            if dry_run:
                print(f"<then: {command.describe}>")
            else:
                pending[:0] = command.make()
            continue
        if dry_run:
            print(" ".join(command))
            continue
        code = subprocess.call([script(command[0]), *command[1:]])
        if code:
            print(f"{name}: `{command[0]}` exited with {code}", file=sys.stderr)
            break
    if dry_run:
        return 0
    if code == 0 and recipe.report is not None:
        copy_report(*recipe.report)
    if code == 0 or recipe.result_on_failure:
        status = f" (exit {code})" if code else ""
        print(f"{name}: {time.monotonic() - start:.0f} s{status}; {recipe.result}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pretrainkit.run.recipes", description=__doc__)
    parser.add_argument(
        "recipe",
        choices=["demo", "demo-text", "demo-tabular", "demo-audio", "study", "study-fashion"],
    )
    parser.add_argument("--lrs", default="0.001,0.003,0.01", help="demo: fine-tune lr grid")
    parser.add_argument("--fractions", default="0.05", help="demo-text: label fractions")
    parser.add_argument("--stamp", default=time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--tiny", action="store_true", help="study-fashion: a few steps each")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)  # study: overrides after --
    args, overrides = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    if args.recipe == "demo-text" and not FORTUNES.is_dir() and not args.dry_run:
        print(f"demo-text: {FORTUNES} is missing; run `make data` (as root) first", file=sys.stderr)
        return 2
    if args.recipe == "demo-tabular" and not args.dry_run:
        from pretrainkit.data.tabular.mlbench import find_root
        from pretrainkit.errors import MissingFileError

        try:
            find_root(None)
        except MissingFileError as err:
            print(f"demo-tabular: {err}", file=sys.stderr)
            return 2
    if args.recipe == "demo-audio" and not SOUNDS.is_dir() and not args.dry_run:
        print(f"demo-audio: {SOUNDS} is missing; run `make data` (as root) first", file=sys.stderr)
        return 2
    if args.recipe == "study-fashion" and not FASHION.is_dir() and not args.dry_run:
        print(
            f"study-fashion: {FASHION} is missing; run `make data` (as root) first", file=sys.stderr
        )
        return 2
    recipe = {
        "demo": lambda: demo(args.stamp, args.lrs),
        "demo-text": lambda: demo_text(args.stamp, args.fractions),
        "demo-tabular": lambda: demo_tabular(args.stamp),
        "demo-audio": lambda: demo_audio(args.stamp),
        "study": lambda: study(args.stamp, overrides),
        "study-fashion": lambda: fashion_recipe(args.stamp, args.tiny),
    }[args.recipe]()
    return run(args.recipe, recipe, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
