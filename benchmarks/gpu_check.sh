#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent GPU machine (about 6-7 minutes on an H200,
# estimated: 317 s measured with the older digits e2e step; every step's limit together: 9 minutes):
#   env          GPU, driver, versions
#   throughput   benchmarks/throughput.py's GPU cases (issue 7's targets: SimCLR R18/32 >= 1.5x the
#                reference pipeline, MAE ViT-B/16 >= 40% MFU, Lightning overhead <= 5%)
#   e2e          the CLI as a user runs it on a GPU, on Fashion-MNIST: pk-pretrain (SimCLR,
#                ResNet-18, trainer=gpu: bf16, the k-NN monitor's val/knn_acc every epoch), a
#                pk-finetune multirun of linear probes (that backbone and random weights, at 10%
#                and 100% of the labels) and pk-report
#   fast_paths   what each fast-path switch buys on the GPU (bf16, channels_last, fused, compile)
#   tests        the tests that build GPU objects
# Every step has its own time limit; the output of each goes to OUT_DIR/<step>.txt, and at the end
# OUT_DIR/summary.json (every figure, machine-readable) and OUT_DIR/figures.md (the same as tables):
# 7 files, within the 8 a lent machine sends back.
#
# Prepare, here (the machine has torch, Lightning, timm and transformers but no network, nor
# hydra-core, omegaconf or wandb; Python 3.12). .whl/ is git-ignored, .gpudata/ too (.gitignore):
#   ../shared/scripts/gpu-wheels.sh .whl            # hydra-core, omegaconf, antlr4, wandb + deps
#   .venv/bin/python -m pip wheel -q --no-deps -w .whl .   # optional: pk-* console scripts
#   mkdir -p .gpudata && cp -r /usr/share/games/fortunes /usr/share/datasets/fashion-mnist .gpudata/
# (27 + 2.5 + 29.5 MiB: with the checkout, about 60 of the 64 MiB a run may carry). Run there, from
# the repository root, carrying .whl and .gpudata (device tool: carry=[".whl", ".gpudata"]):
#   bash benchmarks/gpu_check.sh "$OUT"             # OUT_DIR; default outputs/gpu_check
# It installs the wheels into a temporary folder (no network, no dependencies resolved) and runs
# this checkout's src/ (first on PYTHONPATH, so a stale pretrainkit wheel cannot shadow it); the
# pk-* commands come from that wheel or, without it, from src/ through `python3 -c`. On a machine
# with everything installed and no .whl/, it runs with what is installed.
#
# DRY_RUN=1 runs every step in miniature on the CPU (a few batches, tiny sizes; tests/
# test_benchmarks.py runs it, so this script cannot rot):
#   DRY_RUN=1 bash benchmarks/gpu_check.sh /tmp/gpu_check_dry
# Knobs: SKIP="fast_paths tests" leaves steps out; THROUGHPUT_ARGS / FAST_ARGS pass options to the
# scripts; E2E_EPOCHS (10), E2E_FRACTIONS (0.1,1.0), E2E_BACKBONE (resnet18), E2E_PRETRAIN_ARGS and
# E2E_FINETUNE_ARGS (more overrides for pk-pretrain / pk-finetune);
# FASHION_ROOT (default .gpudata/fashion-mnist if there, else Debian's); TRAINER=cpu without a GPU;
# SKIP_WHEELS=1 ignores .whl/; PYTHON (python3).
set -uo pipefail
out=${1:-${OUT:-outputs/gpu_check}}
mkdir -p "$out"
rm -f "$out"/{env,throughput,e2e,fast_paths,tests}.txt "$out"/summary.json "$out"/figures.md
work=$(mktemp -d /tmp/pk-gpu-check.XXXX)
dry=${DRY_RUN:-}
trainer=${TRAINER:-gpu}
[ -n "$dry" ] && trainer=cpu
py=${PYTHON:-python3}

if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$work/site" .whl/*.whl || exit 1
  export PATH=$work/site/bin:$PATH PYTHONPATH=$work/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
for name in pretrain finetune report; do  # no console scripts installed: the same entry points
  command -v "pk-$name" >/dev/null || eval "pk-$name() { \"\$py\" -c 'import sys
from pretrainkit.$name import main
sys.exit(main())' \"\$@\"; }; export -f pk-$name"
done
fortunes=/usr/share/games/fortunes
[ -d .gpudata/fortunes ] && fortunes=$PWD/.gpudata/fortunes
fashion=/usr/share/datasets/fashion-mnist
[ -d .gpudata/fashion-mnist ] && fashion=$PWD/.gpudata/fashion-mnist
fashion=${FASHION_ROOT:-$fashion}
export WANDB_MODE=offline WANDB_DIR=$work WANDB_SILENT=true PYTHONUNBUFFERED=1

# The end-to-end recipe. SimCLR with ResNet-18 (its 3x3 stride-1 stem at 28 px), batch 256, 10
# epochs: the backbone throughput.py times, so its tensor-core and bf16 paths are what run; at
# ~8,700 img/s for SimCLR R18/32 on the H200 an epoch of 57,000 images is ~7 s, so about 100 s
# with start-up and monitors (the small CNN would only wait on data). The linear probes train on
# features computed once per backbone (probe.cached_features), 10 epochs at batch 1,024: 100
# steps at 10% of the labels, 530 at 100%, each job a few seconds. Budget: ~2.5 minutes of 4.
e2e_epochs=${E2E_EPOCHS:-10}
e2e_backbone=${E2E_BACKBONE:-resnet18}
e2e_fractions=${E2E_FRACTIONS:-0.1,1.0}
e2e_loggers=${E2E_LOGGERS:-[wandb,csv]}  # pretrain's (CSV: per-epoch figures); fine-tunes: W&B
pretrain_args=(data.batch_size=256)
finetune_args=(data.batch_size=1024 trainer.max_epochs=10)
throughput_args=(--json "$work/throughput.json")
fast_args=(--rounds "${FAST_ROUNDS:-5}" --json "$work/fast_paths.json")
tests_args=()
limits=(40 150 230 75 45)  # env throughput e2e fast_paths tests: 540 s together (measured on the
# H200 with the digits e2e: 24, 116, 97, 56, 21 s)
if [ -n "$dry" ]; then  # every step, in miniature: a few batches of tiny images on the CPU
  e2e_epochs=${E2E_EPOCHS:-2}
  e2e_backbone=${E2E_BACKBONE:-small_cnn}  # a ResNet-18 step at 28 px costs ~1 s on one core
  small=(data.batch_size=16 trainer.limit_train_batches=2 trainer.limit_val_batches=1
    trainer.limit_test_batches=1 trainer.log_every_n_steps=1)
  pretrain_args=("${small[@]}" data.monitor.max_images=100 callbacks.embedding.method=pca)
  finetune_args=("${small[@]}" trainer.max_epochs=1)
  throughput_args+=(--cases simclr:small_cnn:16 --steps 1 --warmup 1 --batch 8 --workers 0
    --repeats 1 --device cpu --cpu-peak 100)  # measuring the peak: 5 s on one thread
  fast_args=(--case simclr:small_cnn:16 --variants base,defaults --batch 8 --rounds 1
    --device cpu --json "$work/fast_paths.json")
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # tiny tensors: a second thread only spins
  e2e_loggers=${E2E_LOGGERS:-csv}  # W&B's offline runs cost ~15 s here and are tested elsewhere
  tests_args=(--collect-only)  # these tests run in the CPU suite; here: that they are still there
  limits=(60 120 180 120 120)  # a busy 2-core CPU
fi

step() {  # step NAME LIMIT_S COMMAND...: run it, keep its output, print its tail
  local name=$1 limit=$2 start rc
  shift 2
  case " ${SKIP:-} " in *" $name "*)
    echo "== $name: skipped"
    printf '%s\tskipped\t0\t%s\n' "$name" "$limit" >>"$work/steps.tsv"
    return ;;
  esac
  echo "== $name (limit ${limit} s)"
  start=$(date +%s)
  timeout "$limit" bash -c '"$@"' _ "$@" >"$out/$name.txt" 2>&1  # bash -c: steps can be functions
  rc=$?
  tail -n "${TAIL:-30}" "$out/$name.txt"
  echo "rc=$rc, $(($(date +%s) - start)) s" | tee -a "$out/$name.txt"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - start))" "$limit" >>"$work/steps.tsv"
}

env_info() {  # versions from the installed packages' metadata; torch imported for the GPU
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$py" -c '
import json, os, platform, sys
from importlib.metadata import PackageNotFoundError, version
import hydra, omegaconf, torch, wandb  # the carried wheels import
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
info = {"python": platform.python_version(), "cpus": os.cpu_count(),
        "cuda": torch.cuda.is_available(), "gpu": None, "bf16": False}
info |= {n: v(n) for n in ("torch", "lightning", "timm", "hydra-core", "omegaconf", "wandb",
                           "transformers", "pretrainkit")}
if info["cuda"]:
    info |= {"gpu": torch.cuda.get_device_name(), "bf16": torch.cuda.is_bf16_supported()}
print(" | ".join(f"{k} {x}" for k, x in info.items()))
open(sys.argv[1], "w").write(json.dumps(info))
' "$work/env.json"
}

e2e() {  # pk-pretrain, a pk-finetune multirun and pk-report, each timed into e2e_times.tsv
  local run=$work/e2e t=$SECONDS
  local data=(dataset=fashion_mnist "dataset.source.root=$fashion" "backbone=$e2e_backbone"
    "trainer=$trainer" trainer.enable_progress_bar=false)
  set -ef  # -f: the unquoted lists of overrides below are split into words, never globbed
  pk-pretrain task=simclr "${data[@]}" "trainer.max_epochs=$e2e_epochs" "logger=$e2e_loggers" \
    $e2e_pretrain hydra.run.dir="$run/pretrain"
  printf 'pretrain\t%s\n' $((SECONDS - t)) >>"$work/e2e_times.tsv"
  t=$SECONDS
  pk-finetune -m "${data[@]}" "logger=${e2e_loggers/,csv/}" pretrained="$run/pretrain",null \
    finetune_mode=linear "label_fraction=$e2e_fractions" seed=0 $e2e_finetune \
    hydra.sweep.dir="$run/finetune"
  printf 'finetune\t%s\n' $((SECONDS - t)) >>"$work/e2e_times.tsv"
  t=$SECONDS
  pk-report "$run/finetune" --out "$run/report"
  printf 'report\t%s\n' $((SECONDS - t)) >>"$work/e2e_times.tsv"
}

# bash -c in step() sees only what is exported; arrays do not export, so these travel as text
export -f env_info e2e
export work trainer py fashion e2e_epochs e2e_backbone e2e_fractions e2e_loggers
export e2e_pretrain="${pretrain_args[*]} ${E2E_PRETRAIN_ARGS:-}"
export e2e_finetune="${finetune_args[*]} ${E2E_FINETUNE_ARGS:-}"
start=$(date +%s)
step env "${limits[0]}" env_info
step throughput "${limits[1]}" "$py" benchmarks/throughput.py "${throughput_args[@]}" \
  ${THROUGHPUT_ARGS:-} -- "dataset.source.root=$fortunes"
step e2e "${limits[2]}" e2e
step fast_paths "${limits[3]}" "$py" benchmarks/fast_paths.py "${fast_args[@]}" ${FAST_ARGS:-}
step tests "${limits[4]}" "$py" -m pytest -q -p no:cacheprovider "${tests_args[@]}" \
  "tests/config/test_conf_groups.py::test_trainer_options"
"$py" benchmarks/gpu_summary.py "$out" "$work" --seconds $(($(date +%s) - start)) \
  ${dry:+--dry-run} && cat "$out/figures.md"
rc=$?  # the summary's; else 1 if a step failed (its figures are in the files all the same)
failed=$(awk -F '\t' '$2 != 0 && $2 != "skipped" {print $1}' "$work/steps.tsv" | xargs)
if [ -n "$failed" ]; then echo "failed: $failed"; [ "$rc" = 0 ] && rc=1; fi
[ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
exit "$rc"
