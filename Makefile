# make repro  - set up a virtual environment and run the pipeline (dvc repro)
# make test   - set up a virtual environment and run the whole test suite
# make test-fast - the same without the end-to-end tests (no `dvc repro` in a scratch repo)
# make serve-mnist - train the MNIST model for real handwriting (downloads MNIST), serve it
# make lint   - ruff (lint and format check) and mypy, as CI runs them
# make lock   - regenerate requirements.lock: the newest releases pyproject.toml allows
# make docs   - regenerate docs/results.md, performance.md (committed JSON), parameters.md (schema)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-fast serve-mnist lint lock bench docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

repro: setup
	dvc repro
	@echo
	@echo "metrics: metrics/evaluate.json  ->  $$(python -c 'import json; m = json.load(open("metrics/evaluate.json")); print(m["dataset"], "accuracy", m["accuracy"])')"
	@echo "model:   models/model.skops    (try: digitrec predict path/to/digit.png, or digitrec serve)"
	@echo "plots:   plots/evaluate/*.png  (or: dvc plots show)"

test: setup
	python -m pytest

# The recipe for real handwriting, trained in build/ (a fresh copy of the project; set
# DIGITREC_MIRRORS to use a local MNIST mirror), then served; trained again when the code,
# the params or the recipes change.
MNIST_RECIPE ?= mnist-gradient16-virtual-svc
MNIST_MODEL := build/recipes/$(MNIST_RECIPE)/models/model.skops
MNIST_SOURCES := $(shell git ls-files src params.yaml dvc.yaml studies/recipes.py 2>/dev/null)

$(MNIST_MODEL): $(MNIST_SOURCES) | setup
	rm -rf build/recipes/$(MNIST_RECIPE)
	python studies/recipes.py --keep build/recipes $(MNIST_RECIPE)

serve-mnist: $(MNIST_MODEL)
	digitrec serve --model $(MNIST_MODEL)

test-fast: setup
	python -m pytest -m "not e2e"

lint: setup
	ruff check .
	ruff format --check .
	mypy

# A fresh venv with the newest releases that pyproject.toml allows (the dev extra too),
# frozen; review the diff, then `make setup` installs exactly that.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^digitrec' > requirements.lock
	rm -rf .venv-lock

bench: setup
	python bench/hog.py
	python bench/deskew.py
	python bench/predict.py

docs: setup
	python scripts/build_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots
