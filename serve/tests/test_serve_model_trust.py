"""The model service loads no model folder that an attacker can write: the two defences of
tests/test_model_trust.py (the trust root, formats that cannot run code), on ``python -m serve``,
with that module's helpers. Each refusal is one line, before the service listens, and the
marker file the payload would create never appears (a served model: test_serve.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import skops.io

from tests.model_support import malicious_pickle
from tests.s3_server import free_port
from tests.test_model_trust import forge, refused_in_one_line, run_command, workspace  # noqa: F401
from train.model_store import SKLEARN_FILE


def serve(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(["serve", "--port", str(free_port())], folder, *args)


def test_a_forged_model_is_refused_by_dvc_lock(workspace: Path) -> None:  # noqa: F811
    marker = workspace / "pwned"
    forge(workspace / "model", SKLEARN_FILE, malicious_pickle(marker))
    refused_in_one_line(serve(workspace), "serve", "model: DVC hash ")
    assert not marker.exists()


def test_without_dvc_lock_nothing_vouches_for_the_folder(workspace: Path) -> None:  # noqa: F811
    (workspace / "dvc.lock").unlink()
    refused_in_one_line(serve(workspace), "serve", "dvc.lock records no model")


def test_unlocked_a_pickle_in_place_of_the_skops_file_is_never_run(workspace: Path) -> None:  # noqa: F811
    marker = workspace / "pwned"
    forge(workspace / "model", SKLEARN_FILE, malicious_pickle(marker))
    refused_in_one_line(serve(workspace, "--unlocked-model"), "serve", "model.skops: not a skops model file")
    assert not marker.exists()


def test_unlocked_a_skops_file_naming_an_untrusted_function_is_refused(workspace: Path) -> None:  # noqa: F811
    forge(workspace / "model", SKLEARN_FILE, skops.io.dumps({"steps": [("run", os.system)]}))
    refused_in_one_line(
        serve(workspace, "--unlocked-model"), "serve", "holds types this project does not trust"
    )


def test_unlocked_torch_weights_that_are_a_pickle_are_never_run(workspace: Path) -> None:  # noqa: F811
    """torch_model/tests/test_torch_model_trust.py's case, on the service (when torch_model is here)."""
    store = pytest.importorskip("torch_model.store")
    marker = workspace / "pwned"
    (workspace / "model" / SKLEARN_FILE).unlink()
    (workspace / "model" / "vocab.json").write_text("{}")
    meta = {"kind": "torch", "model": "torch", "params": {"torch": {"num_threads": 1}}, "architecture": {}}
    forge(workspace / "model", store.TORCH_WEIGHTS_FILE, malicious_pickle(marker), meta)
    refused_in_one_line(
        serve(workspace, "--unlocked-model"), "serve", "model.pt: not a plain torch state dict"
    )
    assert not marker.exists()
