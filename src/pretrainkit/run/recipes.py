"""The Makefile's multi-step recipes — `make demo`, `make demo-text`, `make study` — as the
console-script calls a user would type, run in order, stopping at the first that fails:

  python -m pretrainkit.run.recipes demo [--lrs 0.001,0.003,0.01]
  python -m pretrainkit.run.recipes demo-text [--fractions 0.05]
  python -m pretrainkit.run.recipes study [-- extra overrides]
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
from dataclasses import dataclass
from pathlib import Path

from pretrainkit.run.files import REPORT, RESULTS, SUMMARY

FORTUNES = Path("/usr/share/games/fortunes")


@dataclass
class Recipe:
    """Commands to run in order, a sweep whose report to copy when they all succeed (its
    directory, the destination), and where results are."""

    commands: list[list[str]]
    report: tuple[str, str] | None = None
    result: str = ""
    result_on_failure: bool = False  # a sweep writes its report even when some jobs failed


def demo(stamp: str, lrs: str) -> Recipe:
    run, group = f"outputs/demo/runs/{stamp}", f"logger.wandb.group=demo-{stamp}"
    return Recipe(
        [
            ["pk-pretrain", "experiment=demo", group, f"hydra.run.dir={run}/pretrain"],
            [
                "pk-finetune",
                "-m",
                "experiment=demo_finetune",
                group,
                f"pretrained={run}/pretrain,null",
                "finetune_mode=linear,finetune,lp_ft",
                f"optim.optimizer.lr={lrs}",
                "label_fraction=0.01,0.1",
                "seed=0,1,2",
                f"hydra.sweep.dir={run}/finetune",
            ],  # fmt: skip
        ],
        (f"{run}/finetune", "outputs/demo"),
        f"runs in {run}, table in outputs/demo/report.md",
    )


def demo_text(stamp: str, fractions: str) -> Recipe:
    run, group = f"outputs/demo_text/runs/{stamp}", f"logger.wandb.group=demo-text-{stamp}"
    return Recipe(
        [
            ["pk-pretrain", "experiment=demo_text", group, f"hydra.run.dir={run}/pretrain"],
            [
                "pk-finetune",
                "-m",
                "experiment=demo_text_finetune",
                group,
                f"pretrained={run}/pretrain,null",
                f"data.tokenizer={run}/pretrain",
                "finetune_mode=linear,finetune",
                f"label_fraction={fractions}",
                "seed=0,1,2",
                f"hydra.sweep.dir={run}/finetune",
            ],  # fmt: skip
        ],
        (f"{run}/finetune", "outputs/demo_text"),
        f"runs in {run}, table in outputs/demo_text/report.md",
    )


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
    for command in recipe.commands:
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
    parser.add_argument("recipe", choices=["demo", "demo-text", "study"])
    parser.add_argument("--lrs", default="0.001,0.003,0.01", help="demo: fine-tune lr grid")
    parser.add_argument("--fractions", default="0.05", help="demo-text: label fractions")
    parser.add_argument("--stamp", default=time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)  # study: overrides after --
    args, overrides = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    if args.recipe == "demo-text" and not FORTUNES.is_dir() and not args.dry_run:
        print(f"demo-text: {FORTUNES} is missing; run `make data` (as root) first", file=sys.stderr)
        return 2
    recipe = {
        "demo": lambda: demo(args.stamp, args.lrs),
        "demo-text": lambda: demo_text(args.stamp, args.fractions),
        "study": lambda: study(args.stamp, overrides),
    }[args.recipe]()
    return run(args.recipe, recipe, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
