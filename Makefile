# facegan: `make help` lists the targets. Everything runs inside the project's own .venv.
PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# Real faces for `make bench`: the shared CelebA sample when it sits beside the checkout.
BENCH_DATA ?= $(if $(wildcard ../shared/data/celeba_sample),../shared/data/celeba_sample,data/celeba)

.DEFAULT_GOAL := help
.PHONY: help install demo train test bench tensorboard clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  pass Hydra overrides with ARGS, e.g. make train ARGS='data.root=~/celeba model=dcgan64'"

install: $(STAMP)  ## create .venv and install facegan with its dev dependencies

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## train on the built-in synthetic faces (CPU, a few minutes)
	$(PY) scripts/train.py experiment=demo $(ARGS)

train: $(STAMP)  ## train with the default config plus ARGS
	$(PY) scripts/train.py $(ARGS)

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q tests $(ARGS)

bench: $(STAMP)  ## training img/s of facegan vs the canonical DCGAN loop (BENCH_DATA=<image folder>)
	$(PY) scripts/benchmark.py data.root=$(BENCH_DATA) $(ARGS)

tensorboard: $(STAMP)  ## open TensorBoard on every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean:  ## remove run outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
