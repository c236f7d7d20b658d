#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent GPU machine (about 7 minutes on an H200):
#   env          GPU, driver, versions
#   throughput   benchmarks/throughput.py's GPU cases (issue 7's targets: SimCLR R18/32 >= 1.5x the
#                reference pipeline, MAE ViT-B/16 >= 40% MFU, Lightning overhead <= 5%)
#   e2e          the CLI as a user runs it on a GPU: pk-pretrain (SimCLR, digits, bf16), a pk-finetune
#                multirun (pretrained and scratch, linear and full) and pk-report
#   fast_paths   what each fast-path switch buys on the GPU (bf16, channels_last, fused, compile)
#   tests        the tests that build GPU objects
# Every step has its own time limit; the output of each goes to OUT_DIR/<step>.txt.
# SKIP="fast_paths tests" leaves steps out; THROUGHPUT_ARGS / FAST_ARGS pass options to the scripts.
#
# The machine has no network: carry the wheels the image lacks and the fortunes corpus. Here:
#   ../shared/scripts/gpu-wheels.sh .whl && .venv/bin/python -m pip wheel -q --no-deps -w .whl .
#   mkdir -p .gpudata && cp -r /usr/share/games/fortunes .gpudata/
# there, from the repository root:   bash benchmarks/gpu_check.sh [OUT_DIR]
# On a machine with pretrainkit installed and no .whl/, it runs with what is installed.
set -uo pipefail
out=${1:-${OUT:-outputs/gpu_check}}
mkdir -p "$out"
work=$(mktemp -d /tmp/pk-gpu-check.XXXX)
trainer=${TRAINER:-gpu}  # TRAINER=cpu tries the script where there is no GPU

if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
fortunes=/usr/share/games/fortunes
[ -d .gpudata/fortunes ] && fortunes=$PWD/.gpudata/fortunes
export WANDB_MODE=offline WANDB_DIR=$work WANDB_SILENT=true PYTHONUNBUFFERED=1

step() {  # step NAME LIMIT_S COMMAND...: run it, keep its output, print its tail
  local name=$1 limit=$2 start rc
  shift 2
  case " ${SKIP:-} " in *" $name "*) echo "== $name: skipped"; return ;; esac
  echo "== $name (limit ${limit} s)"
  start=$(date +%s)
  timeout "$limit" bash -c '"$@"' _ "$@" >"$out/$name.txt" 2>&1  # bash -c: steps can be functions
  rc=$?
  tail -n "${TAIL:-30}" "$out/$name.txt"
  echo "rc=$rc, $(($(date +%s) - start)) s" | tee -a "$out/$name.txt"
}

env_info() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c "import torch, lightning, timm, hydra, wandb, pretrainkit
print('python', __import__('sys').version.split()[0], '| torch', torch.__version__,
      '| lightning', lightning.__version__, '| timm', timm.__version__, '| hydra', hydra.__version__,
      '| wandb', wandb.__version__, '| cuda', torch.cuda.is_available(),
      '| bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())"
  nproc
}

e2e() {
  local run=$work/e2e
  set -e
  pk-pretrain experiment=demo "trainer=$trainer" "trainer.max_epochs=${E2E_EPOCHS:-15}" \
    hydra.run.dir="$run/pretrain"
  grep -h "precision" "$run/pretrain/.hydra/config.yaml" || true
  pk-finetune -m experiment=demo_finetune "trainer=$trainer" pretrained="$run/pretrain",null \
    finetune_mode=linear,finetune label_fraction=0.1 seed=0 "trainer.max_epochs=${E2E_EPOCHS:-15}" \
    hydra.sweep.dir="$run/finetune"
  pk-report "$run/finetune" --out "$run/report"
  find "$run/finetune" -name metrics.json -exec grep -H -o '"test/acc": [0-9.]*' {} \;
}

export -f env_info e2e
export work trainer
step env 60 env_info
step throughput "${THROUGHPUT_LIMIT:-240}" python3 benchmarks/throughput.py ${THROUGHPUT_ARGS:-} \
  -- "dataset.source.root=$fortunes"
step e2e 150 e2e
step fast_paths 100 python3 benchmarks/fast_paths.py --rounds "${FAST_ROUNDS:-5}" ${FAST_ARGS:-}
step tests 60 python3 -m pytest -q -p no:cacheprovider "tests/test_configs.py::test_trainer_options"
rm -rf "$work"
