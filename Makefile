# pretrainkit — `make help` lists the targets.
# The venv is made and the package installed (editable, dev extras) on first use; the stamp
# file re-installs only when pyproject.toml changes.
#
# TORCH_SPEC pins the torch/torchvision wheels that lie on this project's CPU machines' disk.
# On your own machine keep the CUDA torch you have:  make TORCH_SPEC= demo

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
export WANDB_SILENT ?= true

.PHONY: help install demo demo-text study test test-full lint format data

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q $(TORCH_SPEC); fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install pretrainkit (editable, with dev extras)

DEMO_STAMP := $(shell date +%Y-%m-%d_%H-%M-%S)
DEMO_RUN := outputs/demo/runs/$(DEMO_STAMP)

LRS ?= 0.001,0.003,0.01

demo: $(STAMP)  ## SimCLR on digits, then linear probe / fine-tune / LP-FT / scratch at 1% and 10% labels, 3 lrs, 3 seeds
	@start=$$(date +%s) && \
	$(BIN)/pk-pretrain experiment=demo logger.wandb.group=demo-$(DEMO_STAMP) hydra.run.dir=$(DEMO_RUN)/pretrain && \
	$(BIN)/pk-finetune -m experiment=demo_finetune logger.wandb.group=demo-$(DEMO_STAMP) pretrained=$(DEMO_RUN)/pretrain,null \
		finetune_mode=linear,finetune,lp_ft optim.optimizer.lr=$(LRS) label_fraction=0.01,0.1 seed=0,1,2 \
		hydra.sweep.dir=$(DEMO_RUN)/finetune && \
	$(BIN)/pk-report $(DEMO_RUN)/finetune --out outputs/demo && \
	cp outputs/demo/report.md outputs/demo/results.json $(DEMO_RUN)/ && \
	echo "demo: $$(( $$(date +%s) - start )) s; runs in $(DEMO_RUN), table in outputs/demo/report.md"

DEMO_TEXT_RUN := outputs/demo_text/runs/$(DEMO_STAMP)
TEXT_FRACTIONS ?= 0.05

demo-text: $(STAMP)  ## MLM on fortunes, then linear probe / fine-tune / scratch at 5% of the labels, 3 seeds
	@test -d /usr/share/games/fortunes || $(MAKE) data
	@start=$$(date +%s) && \
	$(BIN)/pk-pretrain experiment=demo_text logger.wandb.group=demo-text-$(DEMO_STAMP) hydra.run.dir=$(DEMO_TEXT_RUN)/pretrain && \
	$(BIN)/pk-finetune -m experiment=demo_text_finetune logger.wandb.group=demo-text-$(DEMO_STAMP) \
		pretrained=$(DEMO_TEXT_RUN)/pretrain,null data.tokenizer=$(DEMO_TEXT_RUN)/pretrain \
		finetune_mode=linear,finetune label_fraction=$(TEXT_FRACTIONS) seed=0,1,2 hydra.sweep.dir=$(DEMO_TEXT_RUN)/finetune && \
	$(BIN)/pk-report $(DEMO_TEXT_RUN)/finetune --out outputs/demo_text && \
	cp outputs/demo_text/report.md outputs/demo_text/results.json $(DEMO_TEXT_RUN)/ && \
	echo "demo-text: $$(( $$(date +%s) - start )) s; runs in $(DEMO_TEXT_RUN), table in outputs/demo_text/report.md"

STUDY_RUN := outputs/study/label_efficiency/$(DEMO_STAMP)
STUDY_ARGS ?=

study: $(STAMP)  ## the label-efficiency study on digits: SimCLR vs scratch x 1/10/100% labels x frozen/full x 3 seeds, report + plots
	@start=$$(date +%s); \
	$(BIN)/pk-finetune -m experiment=label_efficiency hydra.sweep.dir=$(STUDY_RUN) $(STUDY_ARGS); rc=$$?; \
	echo "study: $$(( $$(date +%s) - start )) s (exit $$rc); report in $(STUDY_RUN)/report.md"; exit $$rc

test: $(STAMP)  ## the fast test suite (what CI runs)
	$(BIN)/python -m pytest -m "not slow" -q --durations=10 $(PYTEST_ARGS)

test-full: $(STAMP)  ## every test, slow ones included
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

data:  ## install Debian's Fashion-MNIST (and fortunes) data packages (needs root)
	@if [ -d /usr/share/datasets/fashion-mnist ] && [ -d /usr/share/games/fortunes ]; then echo "data already installed"; \
	else apt-get update -q && apt-get install -y -q dataset-fashion-mnist fortunes; fi
