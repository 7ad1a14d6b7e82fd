"""Shared fixtures: a real copy of the repository in a temp folder, driven by real dvc."""

from __future__ import annotations

# The stages pin the CPU kernels before numpy loads (common/runtime.py); tests that run stage
# code in this process must too, or an AVX-512 machine runs it on other kernels and the
# stage's own check (check_runtime) refuses.
from common.runtime import pin_cpu_kernels

pin_cpu_kernels()

import atexit
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

# Fixtures of tests/test_s3_*.py: a moto S3 server on 127.0.0.1 and an environment pointing at it.
from common.params import read_params_yaml
from tests.s3_server import moto_server, s3_env  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
# The tests' params.yaml: the synthetic data's settings, whatever the project's params.yaml says.
TEST_PARAMS = ROOT / "tests" / "params.yaml"
# The modules of `make test-fast`: plain functions on in-memory data, no process, server or
# dvc run. Every other module is marked `slow` and runs only in `make test`, the full suite,
# so a new test module is in the full suite until someone decides it is fast. An optional
# part's tests/conftest.py adds its own modules here and to LONGEST_FIRST.
FAST_MODULES = {
    "test_containers",
    "test_devcontainer",
    "test_dvc_deps",
    "test_hashing",
    "test_labels",
    "test_metrics",
    "test_params",
    "test_params_schema",
    "test_plots_data",
    "test_split",
    "test_split_plots",
}


# The longest modules (pytest --durations=0, 2026-12-08), started first: `make test` runs a
# module on one worker (pytest-xdist's loadfile), so one started last would run on alone.
# Each module's rank: gaps are left where an optional part's modules go.
LONGEST_FIRST = {
    "test_faults": 1,
    "test_experiments": 2,
    "test_optional_parts": 3,
    "test_predict": 4,
    "test_pipeline_dvc": 6,
    "test_registry": 7,
    "test_runtime": 9,
    "test_readme": 11,
    "test_s3_remote": 13,
    "test_failed_stage_keeps_outputs": 14,
    "test_pre_commit": 15,
    "test_model_trust": 16,
    "test_team": 17,
    "test_dvclive": 18,
}


def module_name(item: pytest.Item) -> str:
    return "" if item.module is None else item.module.__name__.rsplit(".", 1)[-1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if module_name(item) not in FAST_MODULES:
            item.add_marker(pytest.mark.slow)
    last = max(LONGEST_FIRST.values()) + 1
    items.sort(
        key=lambda item: LONGEST_FIRST.get(module_name(item), last)
    )  # stable: the rest keep their order


VENV_BIN = Path(sys.executable).parent


def repo_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore: what a fresh clone would hold."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


# Under `make test` coverage.py measures every Python process the tests start: it sets this
# variable and its .pth file starts a tracer in any interpreter that sees it.
COVERAGE_VARIABLE = "COVERAGE_PROCESS_CONFIG"
# Where tool_env() keeps the variable, out of reach of the tools' own interpreters.
HIDDEN_COVERAGE_VARIABLE = "TESTS_COVERAGE_CONFIG"


@functools.cache
def measured_python_folder() -> Path:
    """A folder whose ``python`` is the project's, with the coverage variable put back: first on
    tool_env()'s PATH, so that the stage commands dvc runs (``python -m train``) are measured
    while dvc itself is not."""
    folder = Path(tempfile.mkdtemp(prefix="measured-python-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shim = folder / "python"
    shim.write_text(
        f'#!/bin/sh\n{COVERAGE_VARIABLE}="${HIDDEN_COVERAGE_VARIABLE}" exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return folder


def test_env() -> dict[str, str]:
    """The environment for the project's own Python processes (``python -m <stage>``): the
    project's venv first, no analytics; measured by coverage.py under ``make test``."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def tool_env() -> dict[str, str]:
    """test_env() for the tools: dvc, gto, git and its hooks, the moto server. Their own Python
    is not measured, only the project's Python they start through the PATH. Tracing dvc measured
    nothing of ours and doubled each command's time (``dvc status``: 0.58 s, 1.18 s traced)."""
    env = test_env()
    config = env.pop(COVERAGE_VARIABLE, None)
    if config is not None:
        env[HIDDEN_COVERAGE_VARIABLE] = config
        env["PATH"] = f"{measured_python_folder()}{os.pathsep}{env['PATH']}"
    return env


def env_for(command: Sequence[str]) -> dict[str, str]:
    """test_env() for the project's interpreter, tool_env() for any other program."""
    return test_env() if command[0] == sys.executable else tool_env()


class Repo:
    """A git + DVC repository copied from this one, for running real dvc commands."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            cwd=self.path,
            env=env_for(args),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", *args, check=check)

    def experiments(self) -> dict[str, dict]:
        """``dvc exp show --json``: each experiment's data (params, metrics) by name, the
        baseline as ``main``."""
        shown = json.loads(self.dvc("exp", "show", "--json").stdout)
        found: dict[str, dict] = {}
        for baseline in shown:
            if baseline.get("name") == "main":
                found["main"] = baseline["data"]
            for experiment in baseline.get("experiments") or []:
                found[experiment["name"]] = experiment["revs"][0]["data"]
        return found

    def params(self) -> dict:
        return read_params_yaml(self.path / "params.yaml")

    def set_params(self, **sections: dict) -> None:
        """Merge ``{section: {key: value}}`` into params.yaml (one level of nesting deep)."""
        params = self.params()
        for section, values in sections.items():
            params.setdefault(section, {}).update(values)
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str = "test commit") -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", message)


def performance(data: dict[str, Any]) -> dict[str, float]:
    """An experiment's ``metrics/model_performance.json``, from ``Repo.experiments()``."""
    return data["metrics"]["metrics/model_performance.json"]["data"]


def split_report(data: dict[str, Any]) -> dict[str, Any]:
    """An experiment's ``metrics/split.json``, from ``Repo.experiments()``."""
    return data["metrics"]["metrics/split.json"]["data"]


def params(data: dict[str, Any]) -> dict[str, Any]:
    """An experiment's ``params.yaml``, from ``Repo.experiments()``."""
    return data["params"]["params.yaml"]["data"]


def copy_project(dest: Path) -> Path:
    """The files a fresh clone would hold, copied into ``dest`` (no git, no DVC cache)."""
    for name in repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest


# The unit tests (make test-fast), as a command to run in a repository copy.
UNIT_TESTS = [
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-m",
    "not slow and not install",
]


def make_repo(dest: Path, synthetic_rows: int = 3000) -> Repo:
    """Copy the repository into ``dest`` with small data, ``git init`` and commit it."""
    copy_project(dest)
    # The committed dvc.lock describes the project's data; a test's own run makes its own.
    (dest / "dvc.lock").unlink(missing_ok=True)
    shutil.copy2(TEST_PARAMS, dest / "params.yaml")
    repo = Repo(dest)
    repo.set_params(data={"synthetic_rows": synthetic_rows})
    repo.run("git", "init", "-q", "-b", "main")
    repo.run("git", "config", "user.email", "tests@example.com")
    repo.run("git", "config", "user.name", "tests")
    repo.commit("copy of the project")
    return repo


def copy_repo(template: Path, dest: Path) -> Repo:
    """A copy of the repository ``template``: its git history, workspace and DVC cache."""
    shutil.copytree(template, dest, symlinks=True)
    return Repo(dest)


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository copy after ``dvc repro`` of the default pipeline, committed as "baseline
    run": made once per test session (about 30 s), never changed; tests take copies of it
    (``repo_factory(built=True)``, ``built_repo``) instead of each running the same pipeline.

    pytest-xdist's workers share it: the first to need it makes it, under a file lock, in the
    folder above each worker's own temp folder."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "pipeline-template"
    with (shared / "pipeline-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "made").exists():
            shutil.rmtree(folder, ignore_errors=True)  # left half-made by a killed session
            repo = make_repo(folder / "repo")
            repo.dvc("repro")
            repo.commit("baseline run")
            (folder / "made").touch()
    return folder / "repo"


@pytest.fixture
def repo_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Repo]:
    """Make fresh repository copies: ``repo_factory(synthetic_rows=...)``; with ``built=True``,
    a copy of ``pipeline_template`` (the default pipeline already run and committed)."""
    count = 0

    def factory(synthetic_rows: int = 3000, built: bool = False) -> Repo:
        nonlocal count
        count += 1
        if built:
            return copy_repo(request.getfixturevalue("pipeline_template"), tmp_path / f"repo{count}")
        return make_repo(tmp_path / f"repo{count}", synthetic_rows)

    return factory


@pytest.fixture
def repo(repo_factory: Callable[..., Repo]) -> Iterator[Repo]:
    yield repo_factory()


@pytest.fixture
def built_repo(repo_factory: Callable[..., Repo]) -> Iterator[Repo]:
    """A copy of ``pipeline_template``: the default pipeline run and committed."""
    yield repo_factory(built=True)


# Flags a stage needs when it runs outside DVC: evaluate then loads a model/ that dvc.lock
# does not record (train/model_store.py: the trust root).
OUTSIDE_DVC_ARGS = {"evaluate": ["--unlocked-model"], "predict": ["--unlocked-model"]}


def run_module(
    module: str, cwd: Path, check: bool = False, code: Path | None = None, args: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m module [args]`` in ``cwd`` with the project's interpreter and the code in
    ``code`` (default: ``cwd`` itself, for a repository copy); ``args`` default to
    ``OUTSIDE_DVC_ARGS``."""
    env = test_env()
    env["PYTHONPATH"] = str(code or cwd)
    args = OUTSIDE_DVC_ARGS.get(module, []) if args is None else args
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, check=check
    )
