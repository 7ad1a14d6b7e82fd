"""scripts/prune_venv.py: what uninstalling named distributions removes from a venv (the
service image's, Dockerfile ``serve-venv``): they and what only they require, nothing that
anything staying requires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.prune_venv import PruneError, removable
from tests.conftest import ROOT

# name -> requirement lines, as importlib.metadata gives them (normalized names: the keys).
INSTALLED = {
    "dvc": ["tqdm>=4", "pygit2", "anyio", "dvc-s3; extra == 's3'", "celery; extra == 'celery'"],
    "dvc-s3": ["botocore>=1"],
    "botocore": ["urllib3", "jmespath; python_version < '3'"],
    "urllib3": [],
    "jmespath": [],
    "pygit2": ["cffi>=1"],
    "cffi": ["pycparser"],
    "pycparser": [],
    "tqdm": [],
    "fastapi": ["starlette", "uvicorn[standard]; extra == 'standard'"],
    "starlette": ["anyio"],
    "anyio": [],
    "uvicorn": ["httptools; extra == 'standard'"],
    "httptools": [],
    "pip": [],
}
ASKED = ["dvc[s3]==3.0", "fastapi[standard]", "tqdm"]


def test_the_named_and_what_only_they_require_go() -> None:
    assert removable(INSTALLED, ASKED, ["dvc"]) == [
        "botocore", "cffi", "dvc", "dvc-s3", "pycparser", "pygit2", "urllib3"
    ]  # fmt: skip


def test_what_the_install_asked_for_stays_unless_named() -> None:
    # tqdm: asked for as well as required by dvc; anyio: required by starlette too; uvicorn and
    # httptools: through fastapi's and uvicorn's extras; pip: asked for by nobody, left alone.
    assert "tqdm" not in removable(INSTALLED, ASKED, ["dvc"])
    assert "tqdm" in removable(INSTALLED, ASKED, ["dvc", "TQDM"])
    assert removable(INSTALLED, ["dvc[s3]", "fastapi", "tqdm"], ["dvc"]) == removable(
        INSTALLED, ASKED, ["dvc"]
    )


def test_an_extra_not_asked_for_brings_nothing() -> None:
    # dvc without [s3]: dvc-s3 is required by nobody, so it is not dvc's to remove; tqdm, not
    # asked for, is dvc's alone.
    assert removable(INSTALLED, ["dvc", "fastapi"], ["dvc"]) == ["cffi", "dvc", "pycparser", "pygit2", "tqdm"]


def test_a_name_that_something_staying_requires_is_an_error() -> None:
    with pytest.raises(PruneError, match=r"^still required by what stays: starlette \(by fastapi\)$"):
        removable(INSTALLED, ASKED, ["dvc", "starlette"])


def test_a_name_not_installed_is_an_error() -> None:
    with pytest.raises(PruneError, match=r"^not installed: dvclive$"):
        removable(INSTALLED, ASKED, ["dvc", "dvclive"])


def test_a_dry_run_on_this_venv_names_dvcs_stack_and_keeps_the_service() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.prune_venv", "--dry-run", "dvc", "dvclive", "pre-commit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("prune_venv: would remove ")
    names = set(result.stdout.split(": ", 2)[2].split())
    assert {"dvc", "dvclive", "pre-commit", "scmrepo", "pygit2", "dulwich", "virtualenv"} <= names
    service = {"fastapi", "uvicorn", "numpy", "scipy", "scikit-learn", "skops", "pandas", "pyarrow"}
    assert not names & service


def test_it_refuses_another_venv(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.prune_venv", "--venv", str(tmp_path), "--dry-run", "dvc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"prune_venv: error: run it with {tmp_path}'s own python")
