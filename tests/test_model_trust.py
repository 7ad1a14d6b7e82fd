"""A model folder that an attacker can write runs none of their code (issue 21, BUG 6).

The attacker replaces the model file and rewrites ``manifest.json`` to match, so the manifest
check passes. Two defences, each tested on evaluate and predict (an optional part's loader:
in its own tests/, with these helpers):
- the trust root: the folder's DVC hash must be the one ``dvc.lock`` records;
- a format that cannot run code (``--unlocked-model`` skips the first): a pickle is not a
  skops file, and a skops file naming ``os.system`` holds an untrusted type (torch weights:
  torch_model/tests/test_torch_model_trust.py).
Each refusal is one line, and the marker file the payload would create never appears.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import skops.io
import yaml

from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.model_support import malicious_pickle, small_model
from train.model_store import (
    MANIFEST_FILE,
    META_FILE,
    SKLEARN_FILE,
    dvc_dir_md5,
    read_model_files,
)


def lock_model(folder: Path) -> None:
    """A dvc.lock that records ``folder/model`` as train's output, as `dvc repro` writes it."""
    md5 = dvc_dir_md5(read_model_files(folder / "model"))
    lock = {
        "schema": "2.0",
        "stages": {"train": {"cmd": "python -m train", "outs": [{"path": "model", "md5": md5}]}},
    }
    (folder / "dvc.lock").write_text(yaml.safe_dump(lock))


def forge(model_dir: Path, name: str, data: bytes, meta: dict | None = None) -> None:
    """Replace ``name`` (and meta.json) and rewrite the manifest to match, as an attacker would."""
    (model_dir / name).write_bytes(data)
    if meta is not None:
        (model_dir / META_FILE).write_text(json.dumps(meta))
    files = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name != MANIFEST_FILE}
    sha = {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())}
    (model_dir / MANIFEST_FILE).write_text(json.dumps({"sha256": sha}))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project folder with params, a prepared test split, a model and the dvc.lock of it."""
    (tmp_path / "params.yaml").write_text("train: {model: logreg}\n")
    (tmp_path / "data/prepared").mkdir(parents=True)
    table = pa.table(
        {"PhraseId": [1, 2, 3, 4], "Phrase": ["good fun", "awful", "great", "dull"], "label": [1, 0, 1, 0]}
    )
    pq.write_table(table, tmp_path / "data/prepared/test.parquet")
    small_model(tmp_path / "model")
    lock_model(tmp_path)
    return tmp_path


# Each tool's command line (an optional part's tool: its own tests, with these helpers).
COMMANDS = {
    "evaluate": ["evaluate"],
    "predict": [
        "predict",
        "--input",
        "data/prepared/test.parquet",
        "--output",
        "out.parquet",
        "--key",
        "PhraseId",
    ],
}


def run_command(command: list[str], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <command> <args>`` in ``folder``, with the project's code."""
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", *command, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run(tool: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(COMMANDS[tool], folder, *args)


def refused_in_one_line(result: subprocess.CompletedProcess[str], tool: str, message: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"{tool}: error: ") and message in lines[0], lines[0]
    assert "refusing to load" in lines[0]


TOOLS = list(COMMANDS)


@pytest.mark.parametrize("tool", TOOLS)
def test_the_locked_model_loads_and_a_forged_one_is_refused_by_dvc_lock(workspace: Path, tool: str) -> None:
    assert run(tool, workspace).returncode == 0
    marker = workspace / "pwned"
    forge(workspace / "model", SKLEARN_FILE, malicious_pickle(marker))
    refused_in_one_line(run(tool, workspace), tool, "model: DVC hash ")
    assert not marker.exists()


@pytest.mark.parametrize("tool", TOOLS)
def test_without_dvc_lock_nothing_vouches_for_the_folder(workspace: Path, tool: str) -> None:
    (workspace / "dvc.lock").unlink()
    refused_in_one_line(run(tool, workspace), tool, "dvc.lock records no model")


@pytest.mark.parametrize("tool", TOOLS)
def test_unlocked_a_pickle_in_place_of_the_skops_file_is_never_run(workspace: Path, tool: str) -> None:
    marker = workspace / "pwned"
    forge(workspace / "model", SKLEARN_FILE, malicious_pickle(marker))
    refused_in_one_line(run(tool, workspace, "--unlocked-model"), tool, "model.skops: not a skops model file")
    assert not marker.exists()


@pytest.mark.parametrize("tool", TOOLS)
def test_unlocked_a_skops_file_naming_an_untrusted_function_is_refused(workspace: Path, tool: str) -> None:
    forge(workspace / "model", SKLEARN_FILE, skops.io.dumps({"steps": [("run", os.system)]}))
    refused_in_one_line(
        run(tool, workspace, "--unlocked-model"), tool, "holds types this project does not trust"
    )
