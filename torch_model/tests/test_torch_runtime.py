"""The torch model's bytes whatever CPU kernels the environment asks for (common/runtime.py pins
torch's too), and the controls that show torch's kernels would change them
(tests/test_runtime.py: the scikit-learn models and the runner)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_runtime import (
    NUMPY_FIRST,
    environment,
    review_stage_folder,
    same_bytes_under_every_setting,
    unpinned_model,
)
from torch_model.tests.support import make_stage_folder

SMALL_TORCH = {"batch_size": 16, "stop_point": 2.0, "checkpoints": 2, "embedding_dim": 16, "channels": 16}
# numpy and torch loaded before the pin; torch picks its kernels at its first operation.
TORCH_FIRST = NUMPY_FIRST + "\nimport torch\ntorch.ones(8).exp()"


def test_torch_model_bytes_are_the_same_whatever_kernels_the_environment_asks_for(tmp_path: Path) -> None:
    torch = {"device": "cpu", **SMALL_TORCH}
    same_bytes_under_every_setting(review_stage_folder(tmp_path, 20_000, "torch", torch=torch))


TORCH_MATH = """
import hashlib, torch  # loaded without the pin: the environment decides its kernels
torch.manual_seed(0)
x, w = torch.randn(2000, 257), torch.randn(257, 64)
y = torch.nn.functional.gelu(x @ w).exp().sum(dim=1)
print(hashlib.sha256(y.numpy().tobytes()).hexdigest())
"""


def test_control_unpinned_torch_kernels_change_torch_bits(tmp_path: Path) -> None:
    digests = {
        capability: subprocess.run(
            [sys.executable, "-c", TORCH_MATH],
            env=environment({"ATEN_CPU_CAPABILITY": capability}),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for capability in ("default", "avx2")
    }
    assert digests["default"] != digests["avx2"]


def test_a_torch_stage_whose_kernels_could_not_be_pinned_refuses(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path, 300, SMALL_TORCH, model="torch")
    # numpy's OpenBLAS pinned by hand, so that only torch's kernels differ.
    settings = {"ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Haswell"}
    code, stderr, model = unpinned_model(folder, settings, TORCH_FIRST)
    assert code == 2 and "error: torch runs DEFAULT kernels" in stderr
    assert "Traceback" not in stderr and model == {}
