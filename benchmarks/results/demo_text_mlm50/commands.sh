#!/bin/bash
# usage: mlm_sweep.sh NAME [pretrain overrides...]   -- pretrain then fine-tune sweep at 5% labels
set -u
NAME=$1; shift
export PATH=.venv/bin:$PATH WANDB_MODE=offline WANDB_DIR=outputs
R=outputs/text_runs/$NAME
if [ ! -f $R/pretrain/backbone.safetensors ]; then
  /usr/bin/time -f "pretrain wall %e s" pk-pretrain experiment=demo_text "$@" hydra.run.dir=$R/pretrain || exit 1
fi
FT="pk-finetune -m experiment=demo_text_finetune launcher=joblib hydra.launcher.n_jobs=2 hydra.callbacks.sweep_end.report=false label_fraction=0.05 seed=0,1,2 data.tokenizer=$R/pretrain"
$FT pretrained=$R/pretrain,null finetune_mode=finetune,linear optim.optimizer.lr=0.0003,0.001,0.003 hydra.sweep.dir=$R/finetune/main
$FT pretrained=$R/pretrain finetune_mode=lp_ft optim.optimizer.lr=0.0003,0.001,0.003 hydra.sweep.dir=$R/finetune/lp_ft
pk-finetune -m experiment=demo_text_finetune baseline=bow_logreg label_fraction=0.05 seed=0,1,2 hydra.callbacks.sweep_end.report=false hydra.sweep.dir=$R/finetune/bow
pk-report $R/finetune --no-wandb
