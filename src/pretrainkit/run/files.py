"""The names a run directory holds, defined once. Every module that writes or reads a run
directory (the run layer, the callbacks, the entry points, pk-report) takes them from here.
Imports nothing, so pk-report can read runs without importing torch or Hydra.

    <run dir>/
      .hydra/config.yaml, overrides.yaml    Hydra's record (a resumed launch: .hydra/resumed-<time>/)
      checkpoints/last.ckpt, step.ckpt      to resume from; fine-tunes also keep best.ckpt
      hpc_ckpt_<n>.ckpt                     Lightning's checkpoint before a SLURM requeue
      backbone.safetensors, backbone.yaml   a pretraining's exported backbone
      metrics.json                          a fine-tune's results
      eval.json, eval.md                    pk-eval's results: its table as JSON and markdown
      history.json                          a pretraining's per-epoch curve (loss, k-NN, ...)
      error.json                            why a job of a multirun failed
      lp_stage/                             LP-FT's probe stage (its Trainer's root dir)
      wandb/                                the W&B logger's runs
    <sweep dir>/
      features/                             linear probes' cached features
      pretrain/                             a study's pretrainings
      report.md, results.json, summary.json pk-report's output

The checkpoint names are also written in conf/callbacks/*.yaml (`dirpath`, `filename`);
tests/run/test_files.py holds the two together.
"""

HYDRA_DIR = ".hydra"
HYDRA_CONFIG = "config.yaml"  # in HYDRA_DIR: the composed config
HYDRA_OVERRIDES = "overrides.yaml"  # in HYDRA_DIR: the command line's overrides
RESUMED_HYDRA_DIR = HYDRA_DIR + "/resumed-{stamp}"  # a resumed launch's record, beside the first

CHECKPOINTS = "checkpoints"
LAST_CKPT = "last.ckpt"  # rewritten every epoch
STEP_CKPT = "step.ckpt"  # every N training steps (callbacks.step_checkpoint)
BEST_CKPT = "best.ckpt"  # a fine-tune's best validation epoch: test/* come from it
HPC_CKPT_GLOB = "hpc_ckpt_*.ckpt"

WEIGHTS = "backbone.safetensors"
SPEC = "backbone.yaml"  # how to rebuild WEIGHTS' backbone, and what it was trained on
METRICS = "metrics.json"
EVAL_RESULTS = "eval.json"  # pk-eval: every protocol's chosen settings and accuracies
EVAL_TABLE = "eval.md"  # pk-eval: the same as a markdown table
HISTORY = "history.json"  # a pretraining's per-epoch metrics and its minutes
ERROR = "error.json"
LP_STAGE = "lp_stage"
WANDB_DIR = "wandb"

FEATURES = "features"
STUDY_PRETRAIN = "pretrain"
REPORT = "report.md"
RESULTS = "results.json"
SUMMARY = "summary.json"

FINISHED = (METRICS, WEIGHTS)  # what a finished run leaves (fine-tune; pretraining)
MARKERS = (CHECKPOINTS, *FINISHED)  # any of them: the directory already holds a run
