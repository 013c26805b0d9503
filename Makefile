# facegan: `make help` lists the targets. Everything runs inside the project's own .venv.
PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The pinned, hash-checked versions make install puts in .venv (make lock writes it)
LOCK := requirements/dev.lock
ARGS ?=
# Real faces for `make bench`: a CelebA folder (BENCH_DATA=~/celeba)
BENCH_DATA ?= data/celeba

.DEFAULT_GOAL := help
.PHONY: help install browser lock demo train lint format test test-long test-fast bench gpu-check offline-bundle tensorboard clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'
	@echo "  pass Hydra overrides with ARGS, e.g. make train ARGS='data.root=~/celeba model=dcgan64'"

install: $(STAMP)  ## create .venv: the dev dependencies from requirements/dev.lock (hash-checked), facegan editable

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	# compat: the checkout itself goes on sys.path, so Hydra's plugin scan finds hydra_plugins/ here (setuptools'
	# default editable finder hides namespace packages from it). No build isolation: facegan builds with the locked,
	# hash-checked setuptools, so nothing unchecked is downloaded
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $(STAMP)

# Debian's packages: the explorer's page is driven in them by tests/test_explore_browser.py (make test-long)
browser:  ## install Debian's headless Chromium and its driver, for the explorer's browser test (needs root or sudo)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q \
			--no-install-recommends chromium chromium-driver; }

# Resolved on PyPI itself whatever index this machine's configuration names, for every platform (--universal) from
# Python 3.11 on; existing pins are kept where the new requirements allow them (ARGS=--upgrade moves every pin).
lock:  ## after a dependency change in pyproject.toml: re-resolve requirements/dev.lock (pins with hashes)
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--no-config --default-index https://pypi.org/simple --emit-index-url $(ARGS) -o $(LOCK)

demo: $(STAMP)  ## train on the built-in synthetic faces (CPU, a few minutes)
	$(PY) scripts/train.py experiment=demo $(ARGS)

train: $(STAMP)  ## train with the default config plus ARGS
	$(PY) scripts/train.py $(ARGS)

lint: $(STAMP)  ## ruff: lint and check the formatting (what CI runs)
	$(VENV)/bin/ruff check facegan hydra_plugins scripts tests
	$(VENV)/bin/ruff format --check facegan hydra_plugins scripts tests

format: $(STAMP)  ## ruff: fix what can be fixed and reformat
	$(VENV)/bin/ruff check --fix facegan hydra_plugins scripts tests
	$(VENV)/bin/ruff format facegan hydra_plugins scripts tests

# Two pytest workers: most tests wait on a subprocess or a single-threaded tiny network, one per core.
PYTEST := $(PY) -m pytest -q -n 2 tests

test: $(STAMP)  ## the test suite but the minute-long checks (CI runs both)
	$(PYTEST) -m "not long" $(ARGS)

test-long: $(STAMP)  ## the minute-long checks: real-data learning, benchmarks, the wheel, Optuna, launchers, TensorBoard
	$(PYTEST) -m long $(ARGS)

test-fast: $(STAMP)  ## the inner loop: every test but the slow ones (real CLI runs, real training)
	$(PYTEST) -m "not slow and not long" $(ARGS)

bench: $(STAMP)  ## training img/s of facegan vs the canonical DCGAN loop (BENCH_DATA=<image folder>)
	$(PY) scripts/benchmark.py data.root=$(BENCH_DATA) $(ARGS)

# No install step: on a GPU machine without network, PY=python3 with the wheels of make offline-bundle (the command
# it prints).
gpu-check:  ## on a CUDA machine: its CUDA-only tests, a short 64x64 quality run and the speed table, one results folder
	$(PY) scripts/gpu_check.py $(ARGS)

offline-bundle: $(STAMP)  ## pack .offline-bundle/ (wheels, resized images, the Inception) for make gpu-check offline
	$(PY) scripts/gpu_check.py bundle_to=.offline-bundle $(ARGS)

tensorboard: $(STAMP)  ## open TensorBoard on every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean:  ## remove run outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
