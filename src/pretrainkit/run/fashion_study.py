"""`make study-fashion`: the label-efficiency study on Fashion-MNIST, sized to finish within 90
minutes on a 2-core CPU. The console-script calls it makes, in order:

  1. pk-pretrain SimCLR, VICReg and rotation (the two image tasks that did best per CPU-minute
     in benchmarks/vision_tasks.py), with the k-NN monitor;
  2. linear probes of the three backbones and of a random one, at every lr of the linear grid
     and every seed (cheap: features are cached once per image);
  3. at each label fraction, the lr search, on seed 0, of the runs that train the whole
     network: the full fine-tune and LP-FT of the pretraining whose linear probe is best on
     validation there, and the scratch baseline's full fine-tune;
  4. the other seeds at each row's lr chosen on validation in step 3; at 100% of the labels
     (one seed) the rows chosen at 10%, at the lr each chose there;
  5. pk-report over all of it.

Every fine-tune job runs two at a time (Hydra's joblib launcher, one torch thread each): on
two cores that does about 1.4x the work of one job on two threads (a multirun of a single job,
as at 100%, runs in-process on both). Budgets are steps, the same
for the pretrained rows and the scratch baseline, long enough for the baseline to level off
(measured: scratch at lr 0.003 reaches 81.5% test at 1% of the labels in 400 steps, 77.3% in
105; 88.7% at 10% in 800 steps, 81.9% in 180); the report
flags any run still improving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pretrainkit.run.recipes import JOBS, Later, Recipe, parallel

TASKS = ("simclr", "vicreg", "rotation")
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
    lrs: str = "0.001,0.003,0.01"  # full-network runs
    linear_lrs: str = "0.003,0.01,0.03"  # linear probes (all chose 0.01 of 0.001-0.01)
    extra: list[str] = field(default_factory=list)  # every command's overrides


FULL = Budget(
    # rotation's k-NN peaks within its first quarter pass (4 rotated views a step)
    pretrain_epochs={"simclr": 10, "vicreg": 10, "rotation": 2},
    finetune={0.01: (8, 50), 0.1: (10, 90), 1.0: (8, 200)},  # 400 / 900 / 1,600 steps of 128
    linear_epochs={0.01: 30, 0.1: 30, 1.0: 10},
)
TINY = Budget(  # the same calls in miniature, for tests: a few steps each
    pretrain_epochs={"simclr": 1, "vicreg": 1, "rotation": 1},
    finetune={0.01: (1, 2), 0.1: (1, 2)},
    linear_epochs={0.01: 1, 0.1: 1},
    full_fraction=None,
    seeds=(0, 1),
    lrs="0.001,0.01",
    linear_lrs="0.01,0.03",
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
    common = [group, f"probe.cache_dir={run}/features", QUIET_SWEEP, *budget.extra]
    seeds = ",".join(map(str, budget.seeds))

    def finetune(sweep: str, *overrides: str, jobs: int = JOBS) -> list[str]:
        return ["pk-finetune", "-m", "experiment=fashion_finetune", *common, *parallel(jobs),
                *overrides, f"hydra.sweep.dir={run}/finetune/{sweep}"]  # fmt: skip

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
                f"optim.optimizer.lr={budget.linear_lrs}",
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
                f"optim.optimizer.lr={budget.linear_lrs}",
                f"seed={budget.seeds[0]}",
            )  # fmt: skip
        )
    commands.append(
        Later(
            f"pk-finetune -m ... seed={budget.seeds[0]} lr={budget.lrs} (fractions {every}): "
            "the full fine-tune (and scratch's) and LP-FT of the pretraining whose linear probe "
            "is best on validation at that fraction",
            lambda: search(run, budget, finetune),
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


def best_pretraining(linear: Path) -> str:
    """The pretrain run whose linear probe scores best on validation in the `linear` sweep
    (each source at its own chosen lr, mean over seeds; never a test metric)."""
    from pretrainkit.report.collect import collect
    from pretrainkit.report.select import lr_choice, row_key

    rows = [r for r in collect(linear) if r.get("pretrained")]
    pretrained = {row_key(r): r["pretrained"] for r in rows}
    scores = {
        pretrained[(c["source"], c["mode"], c["labels"])]: next(
            t["val_acc"] for t in c["tried"] if t["lr"] == c["lr"]
        )
        for c in lr_choice(rows)
        if c["decided"]
    }
    scored = {source: v for source, v in scores.items() if v is not None}
    if not scored:
        raise RuntimeError(
            f"no linear probe of a pretrained backbone under {linear} has a val score"
        )
    return max(scored, key=lambda source: scored[source])


def search(run: str, budget: Budget, finetune: Callable[..., list[str]]) -> list[list[str]]:
    """The commands of step 3: per fraction, the full-network lr search on the first seed."""
    commands = []
    for fraction in budget.fractions:
        best = best_pretraining(Path(f"{run}/finetune/linear-{pct(fraction)}"))
        for pretrained, mode in ((f"{best},null", "finetune"), (best, "lp_ft")):
            commands.append(
                finetune(
                    f"search-{pct(fraction)}-{mode}",
                    *arm(pretrained, mode, fraction, budget.lrs, str(budget.seeds[0]), budget),
                )
            )
    return commands


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
                    jobs=len(sources) * len(budget.seeds[1:]),
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
                    jobs=len(sources),
                )
            )
    return commands
