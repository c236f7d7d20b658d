"""`make study-fashion`: the label-efficiency study on Fashion-MNIST, sized to finish within 90
minutes on a 2-core CPU. The console-script calls it makes, in order:

  1. pk-pretrain SimCLR, VICReg and rotation (the two image tasks that did best per CPU-minute
     in benchmarks/vision_tasks.py), each for about the same CPU time, with the k-NN monitor;
  2. linear probes of the three backbones and of a random one, at every lr of the grid and
     every seed (cheap: features are cached once per image);
  3. the lr search of the runs that train the whole network — SimCLR's full fine-tune, LP-FT of
     every task, the scratch baseline's full fine-tune — on seed 0;
  4. the other seeds at each row's lr chosen on validation in step 3; at 100% of the labels
     (one seed) the lr each row chose at 10%;
  5. pk-report over all of it.

Every fine-tune job runs two at a time (Hydra's joblib launcher, one torch thread each): on
two cores that does about 1.4x the work of one job on two threads. Budgets are steps, the same
for the pretrained rows and the scratch baseline; the report flags any run still improving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pretrainkit.run.recipes import Later, Recipe

TASKS = ("simclr", "vicreg", "rotation")
PARALLEL = ["launcher=joblib", "hydra.launcher.n_jobs=2"]
QUIET_SWEEP = "hydra.callbacks.sweep_end.report=false"  # one report, over everything, at the end


@dataclass(frozen=True)
class Budget:
    """How much each step of the study trains. Epochs of full-network fine-tunes are cut into
    `finetune` = (epochs, steps per epoch) per label fraction, the same for every method."""

    pretrain_epochs: dict[str, int]  # task -> epochs of a quarter of the unlabeled images
    finetune: dict[float, tuple[int, int]]  # fraction -> (epochs, optimizer steps per epoch)
    linear_epochs: dict[float, int]
    fractions: tuple[float, ...] = (0.01, 0.1)  # every seed; the last one also picks 100%'s lr
    full_fraction: float | None = 1.0  # one seed, at the lr chosen at fractions[-1]
    seeds: tuple[int, ...] = (0, 1, 2)
    lrs: str = "0.001,0.003,0.01"
    extra: list[str] = field(default_factory=list)  # every command's overrides


FULL = Budget(
    pretrain_epochs={"simclr": 8, "vicreg": 8, "rotation": 4},  # ~5.5-6.5 CPU-minutes each
    finetune={0.01: (7, 15), 0.1: (6, 30), 1.0: (6, 120)},  # 105 / 180 / 720 steps of 128
    linear_epochs={0.01: 30, 0.1: 30, 1.0: 10},
)
TINY = Budget(  # the same calls in miniature, for tests: a few steps each
    pretrain_epochs={"simclr": 1, "vicreg": 1, "rotation": 1},
    finetune={0.01: (1, 2), 0.1: (1, 2)},
    linear_epochs={0.01: 1, 0.1: 1},
    full_fraction=None,
    seeds=(0, 1),
    lrs="0.001,0.01",
    extra=[
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "trainer.log_every_n_steps=1",
    ],
)
TINY_PRETRAIN = [
    "trainer.limit_train_batches=2",
    "trainer.log_every_n_steps=1",
    "data.monitor.max_images=200",
]


def pct(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def steps(budget: Budget, fraction: float) -> list[str]:
    """A full-network fine-tune's budget at `fraction`: epochs of a fixed number of steps."""
    epochs, per_epoch = budget.finetune[fraction]
    return [
        f"trainer.max_epochs={epochs}",
        f"trainer.limit_train_batches={per_epoch}",
        f"data.min_steps_per_epoch={per_epoch}",  # a small labeled set repeats to fill them
    ]


def arm(
    pretrained: str, mode: str, fraction: float, lr: str, seeds: str, budget: Budget
) -> list[str]:
    """The overrides of one full-network multirun: sources, mode, labels, lr(s), seeds, steps."""
    return [f"pretrained={pretrained}", f"finetune_mode={mode}", f"label_fraction={fraction}",
            f"optim.optimizer.lr={lr}", f"seed={seeds}", *steps(budget, fraction)]  # fmt: skip


def study_fashion(stamp: str, budget: Budget = FULL, out: str = "outputs/study_fashion") -> Recipe:
    run = f"{out}/runs/{stamp}"
    group = f"logger.wandb.group=study-fashion-{stamp}"
    sources = [f"{run}/pretrain/{task}" for task in TASKS]
    common = [group, f"probe.cache_dir={run}/features", QUIET_SWEEP, *PARALLEL, *budget.extra]
    seeds = ",".join(map(str, budget.seeds))

    def finetune(sweep: str, *overrides: str) -> list[str]:
        return ["pk-finetune", "-m", "experiment=fashion_finetune", *common, *overrides,
                f"hydra.sweep.dir={run}/finetune/{sweep}"]  # fmt: skip

    tiny = TINY_PRETRAIN if budget is TINY else []
    commands: list[list[str] | Later] = [
        [
            "pk-pretrain",
            "experiment=fashion_pretrain",
            f"task={task}",
            group,
            f"trainer.max_epochs={budget.pretrain_epochs[task]}",
            *budget.extra,
            *tiny,
            f"hydra.run.dir={run}/pretrain/{task}",
        ]  # fmt: skip
        for task in TASKS
    ]
    every = ",".join(map(str, budget.fractions))
    linear = [f"pretrained={','.join(sources)},null", "finetune_mode=linear"]
    for fraction in budget.fractions:
        commands.append(
            finetune(
                f"linear-{pct(fraction)}",
                *linear,
                f"label_fraction={fraction}",
                f"trainer.max_epochs={budget.linear_epochs[fraction]}",
                f"optim.optimizer.lr={budget.lrs}",
                f"seed={seeds}",
            )  # fmt: skip
        )
    if budget.full_fraction is not None:
        full = budget.full_fraction
        commands.append(
            finetune(
                f"linear-{pct(full)}",
                *linear,
                f"label_fraction={full}",
                f"trainer.max_epochs={budget.linear_epochs[full]}",
                f"optim.optimizer.lr={budget.lrs}",
                f"seed={budget.seeds[0]}",
            )  # fmt: skip
        )
    arms = [(f"{sources[0]},null", "finetune"), (",".join(sources), "lp_ft")]
    for fraction in budget.fractions:
        for pretrained, mode in arms:
            commands.append(
                finetune(
                    f"search-{pct(fraction)}-{mode}",
                    *arm(pretrained, mode, fraction, budget.lrs, str(budget.seeds[0]), budget),
                )
            )
    commands.append(
        Later(
            f"pk-finetune -m ... seed={','.join(map(str, budget.seeds[1:]))} at each search "
            f"row's chosen lr (fractions {every}), and one seed at "
            f"{budget.full_fraction} with the lr chosen at {budget.fractions[-1]}",
            lambda: replicate(run, budget, finetune),
        )
    )
    commands.append(["pk-report", f"{run}/finetune", *(["--no-wandb"] if budget is TINY else [])])
    return Recipe(
        commands,
        (f"{run}/finetune", out),
        f"runs in {run}, table in {out}/report.md",
    )


def chosen_lrs(search: Path) -> dict[tuple[str, str, float], float]:
    """(pretrained run or 'null', mode, label fraction) -> the lr chosen on validation, from
    the `search-*` sweeps under `search` (pk-report's rule, on seed 0)."""
    from pretrainkit.report.collect import collect
    from pretrainkit.report.select import lr_choice, row_key

    rows = [row for sweep in sorted(search.glob("search-*")) for row in collect(sweep)]
    source_of = {
        row_key(r): (r.get("pretrained") or "null", r["mode"], r["label_fraction"]) for r in rows
    }
    return {
        source_of[(c["source"], c["mode"], c["labels"])]: c["lr"]
        for c in lr_choice(rows)
        if c["decided"] and c["lr"] is not None
    }


def replicate(run: str, budget: Budget, finetune: Callable[..., list[str]]) -> list[list[str]]:
    """The commands of step 4, from the lrs step 3 chose: one multirun per (fraction, mode, lr)
    over the sources that chose it."""
    choices = chosen_lrs(Path(f"{run}/finetune"))
    grouped: dict[tuple[float, str, float], list[str]] = defaultdict(list)
    for (source, mode, fraction), lr in sorted(choices.items()):
        if fraction in budget.fractions:
            grouped[(fraction, mode, lr)].append(source)
    later_seeds = ",".join(map(str, budget.seeds[1:]))
    commands = []
    if later_seeds:
        for (fraction, mode, lr), sources in sorted(grouped.items()):
            commands.append(
                finetune(
                    f"seeds-{pct(fraction)}-{mode}-lr{lr:g}",
                    *arm(",".join(sources), mode, fraction, str(lr), later_seeds, budget),
                )
            )
    if budget.full_fraction is not None:
        full = budget.full_fraction
        for (fraction, mode, lr), sources in sorted(grouped.items()):
            if fraction != budget.fractions[-1]:
                continue
            commands.append(
                finetune(
                    f"full-{mode}-lr{lr:g}",
                    *arm(",".join(sources), mode, full, str(lr), str(budget.seeds[0]), budget),
                )
            )
    return commands
