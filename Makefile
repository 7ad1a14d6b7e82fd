# make repro | make test | make lint | make bench | make clean
# Each target installs what it needs into .venv on first use (and when the pins change).
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: make it the project's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install repro test lint format bench clean

help:
	@echo "make repro   create .venv if needed, install, run the pipeline (dvc repro)"
	@echo "make test    install if needed, run ruff and the whole test suite"
	@echo "make lint    ruff check and format check"
	@echo "make bench   run the benchmarks in benchmarks/"

install: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements.lock
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -c requirements.lock '.[test]'
	@touch $@

repro: $(INSTALLED)
	dvc repro

test: $(INSTALLED) lint
	$(PYTHON) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(INSTALLED)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
