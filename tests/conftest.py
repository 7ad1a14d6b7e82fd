"""Shared fixtures: a real copy of the repository in a temp folder, driven by real dvc."""

from __future__ import annotations

# The stages pin the CPU kernels before numpy loads (common/runtime.py); tests that run stage
# code in this process must too, or an AVX-512 machine runs it on other kernels and the
# stage's own check (check_runtime) refuses.
from common.runtime import pin_cpu_kernels

pin_cpu_kernels()

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
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


# The longest modules (pytest --durations, 2026-12-07), started first: `make test` runs a
# module on one worker (pytest-xdist's loadfile), so one started last would run on alone.
# Each module's rank: gaps are left where an optional part's modules go.
LONGEST_FIRST = {
    "test_faults": 1,
    "test_experiments": 2,
    "test_dvclive": 3,
    "test_readme": 5,
    "test_s3_remote": 6,
    "test_failed_stage_keeps_outputs": 7,
    "test_runtime": 9,
    "test_team": 10,
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


def test_env() -> dict[str, str]:
    """The environment for dvc and stage commands: the project's venv first, no analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONPATH", None)
    return env


class Repo:
    """A git + DVC repository copied from this one, for running real dvc commands."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), cwd=self.path, env=test_env(), capture_output=True, text=True, timeout=timeout
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
    run": made once per test process (about 30 s), never changed; tests take copies of it
    (``repo_factory(built=True)``, ``built_repo``) instead of each running the same pipeline."""
    repo = make_repo(tmp_path_factory.mktemp("template") / "repo")
    repo.dvc("repro")
    repo.commit("baseline run")
    return repo.path


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
