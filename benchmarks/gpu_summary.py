"""Every figure of a `benchmarks/gpu_check.sh` run in one place: OUT_DIR/summary.json
(machine-readable) and OUT_DIR/figures.md (the same as tables), from what its steps left in its
working folder. Standard library only: it runs last, whatever failed before it.

  python3 benchmarks/gpu_summary.py OUT_DIR WORK_DIR [--seconds S] [--dry-run]

summary.json holds: `steps` (each step's rc, seconds and limit; rc "skipped" for a skipped one),
`env`, `throughput` (per case: samples/s of pretrainkit, the plain loop and the reference,
`vs_reference`, `lightning_overhead`, `data`, `model`, `mfu`), `fast_paths` (per variant: median
ms, `vs_base`, precision) and `e2e`: the pretraining's precision and per-epoch `knn_acc`,
`probe_acc` and `val_loss`, the linear probes' test accuracies (`linear`), and each CLI call's
wall time (`seconds`). A figure a step did not produce is absent (or null).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import time
from pathlib import Path
from typing import Any

STEPS = ("env", "throughput", "e2e", "fast_paths", "tests")


def load_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def steps(work: Path) -> dict[str, dict[str, Any]]:
    """Each step's exit status, seconds and limit, from the script's steps.tsv."""
    found: dict[str, dict[str, Any]] = {}
    path = work / "steps.tsv"
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, rc, seconds, limit = line.split("\t")
        found[name] = {"rc": rc if rc == "skipped" else int(rc), "seconds": int(seconds),
                       "limit": int(limit)}  # fmt: skip
    return {name: found[name] for name in STEPS if name in found}


def curve(rows: list[dict[str, str]], key: str) -> list[float]:
    """A metric's values in the order logged, one per epoch for the monitors' val/* keys."""
    return [float(r[key]) for r in rows if r.get(key)]


def e2e(work: Path) -> dict[str, Any]:
    """The pretraining's per-epoch monitors and precision, the linear probes, the wall times."""
    run = work / "e2e"
    out: dict[str, Any] = {}
    times = work / "e2e_times.tsv"
    if times.is_file():
        pairs = (line.split("\t") for line in times.read_text().splitlines() if line)
        out["seconds"] = {call: int(seconds) for call, seconds in pairs}
    log = run / "pretrain/csv/metrics.csv"
    if log.is_file():
        rows = list(csv.DictReader(log.read_text().splitlines()))
        for key, name in (("val/knn_acc", "knn_acc"), ("val/probe_acc", "probe_acc"),
                          ("val/loss", "val_loss")):  # fmt: skip
            out[name] = curve(rows, key)
    hparams = run / "pretrain/csv/hparams.yaml"  # the resolved config: the precision that ran
    found = hparams.is_file() and re.search(r"^\s+precision: (\S+)", hparams.read_text(), re.M)
    out["precision"] = found.group(1) if found else None
    linear = []
    for path in sorted((run / "finetune").glob("*/metrics.json")):
        m = json.loads(path.read_text())
        linear.append({"method": m.get("method"), "label_fraction": m.get("label_fraction"),
                       "num_labeled": m.get("num_labeled"), "test_acc": m.get("test/acc"),
                       "val_acc_best": m.get("val/acc_best"), "backbone": m.get("backbone"),
                       "dataset": m.get("dataset"),
                       "pretrain_epochs": m.get("pretrain_epochs")})  # fmt: skip
    out["linear"] = sorted(linear, key=lambda r: (r["label_fraction"] or 0, r["method"] or ""))
    if linear:
        out |= {"backbone": linear[0]["backbone"], "epochs": linear[0]["pretrain_epochs"]}
    return out


def finite(value: Any) -> Any:
    """NaN and infinities as null: summary.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, fmt: str = ".1f") -> str:
    return "—" if x is None else format(x, fmt)


def markdown(s: dict[str, Any]) -> str:
    env = s.get("env") or {}
    head = f"# gpu_check: {env.get('gpu') or 'no GPU'}, torch {env.get('torch')}"
    lines = [head + (" (dry run: CPU, miniature sizes)" if s["dry_run"] else ""),
             f"\n{s['date']}, {s['seconds']} s in all\n", "| step | rc | s | limit s |",
             "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {n} | {r['rc']} | {r['seconds']} | {r['limit']} |" for n, r in s["steps"].items()]
    if s.get("throughput"):
        lines += ["\n## throughput\n", "| case | batch | pretrainkit | plain | reference | "
                  "pk/ref | Lightning overhead | data/model | MFU (pk, model) |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for c in s["throughput"]:
            data_model = c["data"] / c["model"] if c.get("data") and c.get("model") else None
            lines.append(
                f"| {c['case']} | {c['batch']} | {num(c.get('pretrainkit'))} {c['unit']} | "
                f"{num(c.get('plain'))} | {num(c.get('reference'))} | "
                f"{num(c.get('vs_reference'), '.2f')} | {pct(c.get('lightning_overhead'))} | "
                f"{num(data_model, '.2f')} | {pct(c.get('mfu'))}, {pct(c.get('mfu_model'))} |"
            )
    fast = s.get("fast_paths")
    if fast:
        lines += [f"\n## fast paths: {fast['case']}, batch {fast['batch']}\n",
                  "| variant | median ms | vs base | precision |", "|---|---|---|---|"]  # fmt: skip
        for name, v in fast["variants"].items():
            lines.append(f"| {name} | {num(v['median_ms'])} | {num(v['vs_base'], '.2f')}x | "
                         f"{v['precision']} |")  # fmt: skip
    e = s.get("e2e") or {}
    if e.get("knn_acc") or e.get("linear"):
        secs = ", ".join(f"{k} {v} s" for k, v in (e.get("seconds") or {}).items())
        knn = ", ".join(f"{x:.3f}" for x in e.get("knn_acc", ()))
        title = f"SimCLR ({e.get('backbone')}, {e.get('epochs')} epochs) on Fashion-MNIST"
        lines += [
            f"\n## end to end: {title}, then linear probes\n",
            f"precision {e.get('precision')}; {secs}\n",
            f"val/knn_acc by epoch: {knn}",
            "\n| method | labels | test acc | best val acc |",
            "|---|---|---|---|",
        ]
        for r in e.get("linear", []):
            labels = f"{pct(r['label_fraction'], 0)} ({r['num_labeled']})"
            lines.append(f"| {r['method']} | {labels} | {pct(r['test_acc'])} | "
                         f"{pct(r['val_acc_best'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--seconds", type=int, default=None, help="the whole script's")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    summary = finite(
        {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "dry_run": args.dry_run,
            "seconds": args.seconds,
            "steps": steps(args.work),
            "env": load_json(args.work / "env.json"),
            "throughput": load_json(args.work / "throughput.json"),
            "fast_paths": load_json(args.work / "fast_paths.json"),
            "e2e": e2e(args.work),
        }
    )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "figures.md").write_text(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
