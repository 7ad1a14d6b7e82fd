"""The install as an ordinary machine has it: a fresh copy, pip with PyPI alone, torch's CPU
build from ``TORCH_INDEX_URL`` (here a PEP 503 index served on 127.0.0.1), Python 3.11-3.13.

Run by ``make test-install`` (and ``.ci/run``), not by ``make test``: each Python's install
downloads the core from PyPI, minutes that the suite need not pay on every change.
"""

from __future__ import annotations

import functools
import glob
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, repo_files

pytestmark = pytest.mark.install

SMALL_TORCH = {"batch_size": 64, "stop_point": 1.0, "checkpoints": 1, "embedding_dim": 8, "channels": 8}


def interpreter(version: str) -> str:
    """A working ``python3.X``: on the PATH, else pyenv's."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise AssertionError(f"no working python{version} here (on the PATH or under ~/.pyenv)")


def base_path() -> str:
    """The PATH without the test's own venv: ``python3`` is the machine's."""
    venv = str(VENV_BIN)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and p != venv)


def ordinary_env(torch_index_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PIP_CONFIG_FILE=os.devnull, TORCH_INDEX_URL=torch_index_url, PATH=base_path())
    env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return env


def local_torch_wheel() -> Path:
    """The torch CPU wheel that this machine's pip finds in a local folder (find-links)."""
    folders = os.environ.get("PIP_FIND_LINKS", "").split()
    config = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    folders += re.findall(r"find-links='([^']+)'", config.stdout)
    for folder in folders:
        for wheel in sorted(Path(folder.removeprefix("file://")).glob("torch-2.13.0+cpu-*.whl")):
            return wheel
    raise AssertionError("no torch-2.13.0+cpu wheel in pip's find-links folders to serve as the torch index")


class Index(http.server.ThreadingHTTPServer):
    def __init__(self, folder: Path) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None  # type: ignore[method-assign]
        super().__init__(("127.0.0.1", 0), handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple"


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """PyTorch's CPU index as pip sees it (PEP 503), holding only the torch wheel."""
    folder = tmp_path_factory.mktemp("torch-index")
    wheel = local_torch_wheel()
    (folder / "simple/torch").mkdir(parents=True)
    (folder / "simple/torch" / wheel.name).symlink_to(wheel)
    href = wheel.name.replace("+", "%2B")
    (folder / "simple/torch/index.html").write_text(
        f'<html><body><a href="{href}">{wheel.name}</a></body></html>\n'
    )
    server = Index(folder)
    yield server.url
    server.shutdown()


def fresh_copy(dest: Path) -> Path:
    """What `git clone` of this working tree gives: its files, committed, dvc.lock included."""
    for name in repo_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "copy"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True, env=ordinary_env(""))
    return dest


def outs(lock: str) -> dict[str, str]:
    """Every stage output's md5 in a dvc.lock."""
    found = {}
    for stage in yaml.safe_load(lock)["stages"].values():
        for out in stage.get("outs", []):
            found[out["path"]] = out["md5"]
    return found


def make(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def ordinary(tmp_path_factory: pytest.TempPathFactory, torch_index: str) -> Path:
    """A fresh copy after `make repro` on Python 3.11, from PyPI alone, over a .venv that
    Python 3.12 had made (so also: another Python's .venv is rebuilt, not reused)."""
    folder = fresh_copy(tmp_path_factory.mktemp("ordinary"))
    subprocess.run([interpreter("3.12"), "-m", "venv", "--without-pip", ".venv"], cwd=folder, check=True)
    result = make(folder, ordinary_env(torch_index), "repro", f"PYTHON={interpreter('3.11')}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "make: .venv is made by Python 3.12, PYTHON is 3.11: rebuilding it" in result.stderr
    return folder


def test_make_repro_reproduces_the_committed_lock(ordinary: Path) -> None:
    assert outs((ordinary / "dvc.lock").read_text()) == outs((ROOT / "dvc.lock").read_text())


def test_the_core_holds_no_torch_spark_service_or_test_tools(ordinary: Path) -> None:
    python = ordinary / ".venv/bin/python"
    for module in ("torch", "pyspark", "fastapi", "uvicorn", "pytest", "moto", "hypothesis"):
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0, f"{module} is installed by make repro"


def test_a_model_that_needs_a_missing_extra_stops_in_check_params(ordinary: Path, torch_index: str) -> None:
    model_before = outs((ordinary / "dvc.lock").read_text())["model"]
    env = ordinary_env(torch_index)
    env["PATH"] = f"{ordinary / '.venv/bin'}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        ["dvc", "exp", "run", "-S", "train.model=torch"],
        cwd=ordinary,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "train.model: torch needs the torch extra, which is not installed: make install EXTRAS=torch" in (
        result.stdout + result.stderr
    )
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=ordinary, check=True)
    assert (ordinary / "model").is_dir(), "the last good model/ was deleted"
    assert outs((ordinary / "dvc.lock").read_text())["model"] == model_before


def test_an_unreachable_torch_index_is_named_in_one_line(ordinary: Path, tmp_path: Path) -> None:
    (tmp_path / "simple").mkdir()
    empty = Index(tmp_path)
    try:
        result = make(ordinary, ordinary_env(empty.url), "install", "EXTRAS=torch")
    finally:
        empty.shutdown()
    assert result.returncode != 0
    last = [line for line in result.stderr.splitlines() if re.match(r"make: (?!\*\*\*)", line)][-1]
    assert last.startswith(f"make: could not install torch==2.13.0+cpu from {empty.url}: ")
    assert "TORCH_INDEX_URL" in last
    assert "No matching distribution found for torch==2.13.0+cpu" in result.stderr  # pip's own reason, above


def test_the_torch_extra_comes_from_its_index_and_trains_the_same_bytes(
    ordinary: Path, torch_index: str
) -> None:
    result = make(ordinary, ordinary_env(torch_index), "install", "EXTRAS=torch")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"make: torch: installing torch==2.13.0+cpu from {torch_index}" in result.stderr
    python = ordinary / ".venv/bin/python"
    version = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "2.13.0+cpu"
    # The same small torch model, trained by this .venv and by the test's own: the same bytes.
    params = yaml.safe_load((ordinary / "params.yaml").read_text())
    params["train"]["model"] = "torch"
    params["train"]["torch"].update(SMALL_TORCH)
    (ordinary / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    hashes = []
    # check_params first (the refused torch run above left no data/params.checked), then train
    # alone again, forced, with the other venv.
    for bin_folder, command in ((ordinary / ".venv/bin", ["train"]), (VENV_BIN, ["-s", "-f", "train"])):
        env = ordinary_env(torch_index)
        env["PATH"] = f"{bin_folder}{os.pathsep}{env['PATH']}"
        trained = subprocess.run(
            ["dvc", "repro", *command], cwd=ordinary, env=env, capture_output=True, text=True
        )
        assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
        hashes.append(outs((ordinary / "dvc.lock").read_text())["model"])
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_other_pythons_give_the_committed_lock(version: str, tmp_path: Path, torch_index: str) -> None:
    folder = fresh_copy(tmp_path)
    result = make(folder, ordinary_env(torch_index), "repro", f"PYTHON={interpreter(version)}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"make: creating .venv with Python {version}" in result.stderr
    # Every artifact, the model included (a skops file: no pickle whose bytes follow the Python).
    assert outs((folder / "dvc.lock").read_text()) == outs((ROOT / "dvc.lock").read_text())


def test_an_older_python_is_refused_in_one_line(tmp_path: Path, torch_index: str) -> None:
    folder = fresh_copy(tmp_path)
    result = make(folder, ordinary_env(torch_index), "repro", f"PYTHON={interpreter('3.10')}")
    assert result.returncode != 0 and not (folder / ".venv").exists()
    assert result.stderr.splitlines()[0].startswith("make: Python 3.10 runs as PYTHON")
    assert "this project needs Python 3.11, 3.12, 3.13" in result.stderr


# The compiled packages, whose wheels must exist for the platform (the others may build from source).
WHEELS_ONLY = (
    "numpy scipy pandas pyarrow scikit-learn torch pygit2 uvloop httptools orjson pydantic-core cryptography"
)


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
@pytest.mark.parametrize("platform", ["aarch64-apple-darwin", "aarch64-unknown-linux-gnu"])
def test_the_lock_resolves_on_macos_arm64_and_linux_aarch64(
    platform: str, python: str, tmp_path: Path
) -> None:
    """uv resolves the lock, as constraints, for the platform from PyPI. On Linux aarch64 torch
    comes from PyTorch's CPU index, which this machine cannot reach: that line is left out."""
    lock = tmp_path / "requirements.txt"
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    lock.write_text(
        "\n".join(
            line for line in lines if not (platform.endswith("linux-gnu") and line.startswith("torch=="))
        )
    )
    env = {**ordinary_env(""), "MACOSX_DEPLOYMENT_TARGET": "14.0"}  # torch 2.13's macOS wheels
    command = [str(VENV_BIN / "uv"), "pip", "compile", str(lock), "--no-deps", "--quiet", "--no-header"]
    command += ["--python-platform", platform, "--python-version", python]
    command += [arg for package in WHEELS_ONLY.split() for arg in ("--only-binary", package)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    resolved = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    assert {"numpy", "scikit-learn", "dvc", "pyarrow"} <= resolved
    assert ("torch" in resolved) == platform.endswith("darwin")
