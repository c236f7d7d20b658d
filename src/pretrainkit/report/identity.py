"""Row identity: which pretraining a fine-tune started from, and a readable name for it.

A report row is one pretraining source x fine-tune mode x label budget. The source is the
weights file (two pretrainings of one task, or two bare weights files in one folder, are two
sources); runs older than the `weights` key fall back to the `pretrained` directory. A
classical baseline's source is its features (`bow`), its mode its classifier (`logreg`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePath
from typing import Any

Row = dict[str, Any]
SCRATCH = "scratch"
UNKNOWN = "unknown"  # the task of a bare weights file without metadata


def mode(row: Row) -> str:
    """`linear`, `finetune` or `lp_ft`: the `finetune_mode` key, else the method's suffix."""
    return row.get("finetune_mode") or str(row.get("method", "")).rpartition("-")[2]


def source(row: Row) -> str:
    """The pretraining a run started from: its weights file, else its weights' directory;
    `scratch` for random weights."""
    if row.get("task") == SCRATCH:
        return SCRATCH
    return row.get("weights") or row.get("pretrained") or str(row.get("task"))


def _levels(task: str, src: str, is_file: bool) -> list[tuple[str, ...]]:
    """Ever longer descriptions of a source as path parts: the pretrain run's directory (not
    for bare weights: their folder is anyone's), then the weights' stem, then the full path."""
    path = PurePath(src)
    stem = (*path.parent.parts, path.stem) if is_file else path.parts
    levels = [stem, path.parts]
    if task != UNKNOWN:
        levels.insert(0, path.parent.parts if is_file else path.parts)
    return levels


def _tails(parts: list[tuple[str, ...]]) -> list[str] | None:
    """Per source, its shortest trailing parts that no other source shares (a parent folder
    only where needed); None if the parts cannot tell the sources apart."""
    if len(set(parts)) < len(parts):
        return None

    def tail(p: tuple[str, ...], n: int) -> tuple[str, ...]:
        return p[-n:]

    result = []
    for p in parts:
        n = next(
            (n for n in range(1, len(p) + 1)
             if all(tail(q, n) != tail(p, n) for q in parts if q is not p)),
            len(p),  # p is a tail of another source: all of p, the other gets longer
        )  # fmt: skip
        result.append("/".join(tail(p, n)))
    return result


def _short(task: str, sources: dict[str, bool]) -> dict[str, str]:
    """source -> its shortest distinguishing name among `sources` (source -> is a file)."""
    levels = [_levels(task, s, is_file) for s, is_file in sources.items()]
    for level in range(3):
        tails = _tails([lv[min(level, len(lv) - 1)] for lv in levels])
        if tails is not None:
            break
    else:
        tails = list(sources)
    prefix = f"{task}-"  # `simclr-seed1-3fa2` under simclr reads as `seed1-3fa2`
    stripped = [t.removeprefix(prefix) or t for t in tails]
    if len(set(stripped)) == len(stripped):
        tails = stripped
    return dict(zip(sources, tails, strict=True))


def names(rows: list[Row]) -> dict[str, str]:
    """source -> display name: the task alone when it has one source in the report, else
    `task[short]`, short being the pretrain run directory's name (a bare weights file: its
    stem), with parent folders added only as far as needed to tell the sources apart."""
    by_task: dict[str, dict[str, bool]] = defaultdict(dict)  # task -> source -> is a file
    for row in rows:
        by_task[str(row.get("task"))][source(row)] = bool(row.get("weights"))
    result = {}
    for task, sources in by_task.items():
        if len(sources) == 1:
            result[next(iter(sources))] = task
        else:
            result.update({s: f"{task}[{short}]" for s, short in _short(task, sources).items()})
    return result


def identify(rows: list[Row]) -> list[Row]:
    """The rows with `source`, `mode`, `name` (the source's display name) and `label`
    (`<name>-<mode>`, the method column of the report) added."""
    shown = names(rows)
    return [
        {**r, "source": source(r), "mode": mode(r), "name": shown[source(r)],
         "label": f"{shown[source(r)]}-{mode(r)}"}
        for r in rows
    ]  # fmt: skip


def is_scratch(row: Row) -> bool:
    return row.get("source") == SCRATCH or row.get("task") == SCRATCH


def is_classical(row: Row) -> bool:
    """A classical baseline (`bow-logreg`): neither pretrained nor scratch, a floor to beat."""
    return bool(row.get("classical"))
