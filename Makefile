# make repro  - set up a virtual environment and run the pipeline (dvc repro)
# make test   - set up a virtual environment and run the whole test suite
# make test-fast - the same without the end-to-end tests (no `dvc repro` in a scratch repo)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-fast lint bench clean

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

test-fast: setup
	python -m pytest -m "not e2e"

lint: setup
	ruff check src tests bench scripts
	ruff format --check src tests bench scripts

bench: setup
	python bench/hog.py
	python bench/deskew.py
	python bench/predict.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots
