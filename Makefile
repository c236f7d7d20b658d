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
# pytest-xdist processes: 2 on CI's 2 cores (1.9x the tests per minute of one process there);
# PYTEST_WORKERS=0 runs in this process (a debugger, -x, -s)
PYTEST_WORKERS ?= 2

.PHONY: help install demo demo-text demo-tabular demo-audio study study-fashion test test-full lint format data

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
LRS ?= 0.001,0.003,0.01
TEXT_FRACTIONS ?= 0.05
STUDY_ARGS ?=
# The demo and study recipes: the console-script calls they run are in src/pretrainkit/run/recipes.py
# (`.venv/bin/python -m pretrainkit.run.recipes demo --dry-run` prints them).
RECIPE := $(BIN)/python -m pretrainkit.run.recipes

demo: $(STAMP)  ## SimCLR on digits, then linear probe / fine-tune / LP-FT / scratch at 1% and 10% labels, 3 lrs, 3 seeds
	@$(RECIPE) demo --lrs $(LRS) --stamp $(DEMO_STAMP)

demo-text: $(STAMP)  ## MLM on fortunes (~18 min), then linear probe / fine-tune / LP-FT / scratch at 5% of the labels, 3 lrs, 3 seeds, and a bag-of-words floor
	@test -d /usr/share/games/fortunes || $(MAKE) data
	@$(RECIPE) demo-text --fractions $(TEXT_FRACTIONS) --stamp $(DEMO_STAMP)

demo-tabular: $(STAMP)  ## VIME on UCI Letter Recognition's rows (~2.5 min), then linear / fine-tune / LP-FT / scratch x 4 lrs, boosted trees and logistic regression at 1% and 10% labels, 3 seeds
	@test -f /usr/local/share/mlbench/data/LetterRecognition.rda || test -f /usr/lib/R/site-library/mlbench/data/LetterRecognition.rda || $(MAKE) data
	@$(RECIPE) demo-tabular --stamp $(DEMO_STAMP)

demo-audio: $(STAMP)  ## SimCLR on recorded speech, then spoken-language ID on other speakers at 5% labels: linear / fine-tune / LP-FT / scratch, 3 seeds
	@test -d $(SOUNDS)/it_IT_f_Menardi || $(MAKE) data
	@$(RECIPE) demo-audio --stamp $(DEMO_STAMP)

study: $(STAMP)  ## the label-efficiency study on digits: SimCLR vs scratch x 1/10/100% labels x frozen/full x 3 seeds, report + plots
	@$(RECIPE) study --stamp $(DEMO_STAMP) -- $(STUDY_ARGS)

study-fashion: $(STAMP)  ## Fashion-MNIST: SimCLR, VICReg, rotation vs scratch x 1/10/100% labels x linear/full/LP-FT, 3 seeds, <= 90 min on 2 CPUs
	@test -d /usr/share/datasets/fashion-mnist || $(MAKE) data
	@$(RECIPE) study-fashion --stamp $(DEMO_STAMP)

test: $(STAMP)  ## the fast test suite (what CI runs), on PYTEST_WORKERS processes
	$(BIN)/python -m pytest -m "not slow" -q -n $(PYTEST_WORKERS) --dist worksteal --durations=10 $(PYTEST_ARGS)

test-full: $(STAMP)  ## every test, slow ones included
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

MLBENCH := /usr/local/share/mlbench
SOUNDS := /usr/share/asterisk/sounds
# recorded speech, 8 kHz: five languages' core prompts (one speaker each) and three more speakers
SPEECH := $(foreach l,en es fr it ru,asterisk-core-sounds-$(l)-wav) asterisk-prompt-es-co \
	asterisk-prompt-fr-armelle asterisk-prompt-it-menardi-wav

data:  ## install Debian's Fashion-MNIST, fortunes and Asterisk speech packages, unpack r-cran-mlbench's tables (needs root)
	@if [ -d /usr/share/datasets/fashion-mnist ] && [ -d /usr/share/games/fortunes ] && [ -d $(SOUNDS)/it_IT_f_Menardi ]; then echo "data already installed"; \
	else apt-get update -q && apt-get install -y -q dataset-fashion-mnist fortunes $(SPEECH); fi
	@# mlbench's .rda files only (1 MB): installing the package would pull in R (90 packages, 171 MB)
	@if [ -f $(MLBENCH)/data/LetterRecognition.rda ]; then echo "mlbench tables already in $(MLBENCH)"; \
	else tmp=$$(mktemp -d) && chmod 755 $$tmp && cd $$tmp && \
	  { apt-get download -q r-cran-mlbench 2>/dev/null || { apt-get update -q && apt-get download -q r-cran-mlbench; }; } && \
	  dpkg-deb -x r-cran-mlbench_*.deb root && mkdir -p $(MLBENCH) && \
	  cp -r root/usr/lib/R/site-library/mlbench/data $(MLBENCH)/ && rm -rf $$tmp && \
	  echo "mlbench tables unpacked to $(MLBENCH)/data"; fi
