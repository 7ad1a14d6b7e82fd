"""A torch model folder that an attacker can write runs none of their code: its weights are
loaded with ``weights_only=True`` (tests/test_model_trust.py: the rest, and the helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.model_support import malicious_pickle
from tests.test_model_trust import TOOLS, forge, refused_in_one_line, run, workspace  # noqa: F401
from torch_model.store import TORCH_WEIGHTS_FILE
from train.model_store import SKLEARN_FILE


@pytest.mark.parametrize("tool", TOOLS)
def test_unlocked_torch_weights_that_are_a_pickle_are_never_run(workspace: Path, tool: str) -> None:  # noqa: F811
    marker = workspace / "pwned"
    (workspace / "model" / SKLEARN_FILE).unlink()
    (workspace / "model" / "vocab.json").write_text("{}")
    meta = {"kind": "torch", "model": "torch", "params": {"torch": {"num_threads": 1}}, "architecture": {}}
    forge(workspace / "model", TORCH_WEIGHTS_FILE, malicious_pickle(marker), meta)
    refused_in_one_line(
        run(tool, workspace, "--unlocked-model"), tool, "model.pt: not a plain torch state dict"
    )
    assert not marker.exists()
