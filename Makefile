# Two entry points for a fresh machine: `make quickstart` and `make test`.
# TORCH pins the CPU build used for tests; `make quickstart TORCH=torch` installs the
# default (CUDA-enabled on Linux) build instead.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup quickstart test test-fast lint bench ui

$(BIN)/clusterlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[dev]"
	touch $(BIN)/clusterlab

setup: $(BIN)/clusterlab

quickstart: setup
	$(BIN)/clusterlab run experiments/quickstart.yaml

# The whole suite, browser and LaTeX tests included: Debian's Chromium and pdflatex are
# installed first where they are missing (with apt-get, as root or through sudo).
test: setup
	PYTHON=$(BIN)/python .ci/install-browser
	.ci/install-latex
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "" -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m benchmarks --quick

ui: setup
	$(BIN)/clusterlab ui
