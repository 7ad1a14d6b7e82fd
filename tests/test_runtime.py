"""Same model bytes whatever CPU kernels the environment asks for (common/runtime.py).

Each model is trained by ``python -m train`` in a fresh process under outside settings that,
unpinned, make numpy's OpenBLAS, torch, MKL and oneDNN pick other kernels. The controls show
that those settings do change the bits when the pin cannot act, so the main test can fail.
The torch model's own cases: torch_model/tests/test_torch_runtime.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.runtime import PINNED_ENVIRONMENT, locked_versions, version_problems
from prepare_data.synthetic import generate_reviews
from tests.train_support import file_hashes, make_stage_folder, train_command_env, write_split

# What the newcomer check calls an older CPU, a newer one, and nothing set at all.
OLDER_CPU = {
    "OPENBLAS_CORETYPE": "SandyBridge",
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
}
NEWER_CPU = {"OPENBLAS_CORETYPE": "SkylakeX", "ATEN_CPU_CAPABILITY": "avx512", "NPY_ENABLE_CPU_FEATURES": ""}
UNSET = {name: None for name in (*OLDER_CPU, *PINNED_ENVIRONMENT)}
SETTINGS = {"older_cpu": OLDER_CPU, "newer_cpu": NEWER_CPU, "unset": UNSET}


def review_stage_folder(folder: Path, rows: int, model: str, **sections: dict[str, Any]) -> Path:
    """``make_stage_folder`` with get_data's synthetic reviews: a vocabulary large enough for
    the kernels to matter (the control below fails on a few dozen distinct words)."""
    make_stage_folder(folder, 10, model, **sections)
    columns = generate_reviews(rows, seed=42)
    rows_by_label = [
        (t, int(s == 4)) for t, s in zip(columns["Phrase"], columns["Sentiment"], strict=True) if s in (0, 4)
    ]
    cut = len(rows_by_label) * 4 // 5
    for name, part in (("train", rows_by_label[:cut]), ("valid", rows_by_label[cut:])):
        write_split(folder, name, [t for t, _ in part], [label for _, label in part])
    return folder


def environment(settings: dict[str, str | None]) -> dict[str, str]:
    env = train_command_env()
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def train_under(folder: Path, settings: dict[str, str | None]) -> dict[str, str]:
    result = run_train_env(folder, environment(settings))
    assert result.returncode == 0, result.stderr
    return file_hashes(folder / "model")


def run_train_env(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "train"], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


def same_bytes_under_every_setting(folder: Path) -> None:
    models = {name: train_under(folder, settings) for name, settings in SETTINGS.items()}
    assert models["older_cpu"] == models["newer_cpu"] == models["unset"]
    assert models["unset"]  # a model was written


@pytest.mark.parametrize("model", ["logreg", "svm"])
def test_model_bytes_are_the_same_whatever_kernels_the_environment_asks_for(
    tmp_path: Path, model: str
) -> None:
    same_bytes_under_every_setting(review_stage_folder(tmp_path, 20_000, model))


def test_an_overridden_setting_is_reported_in_one_line(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path, 300, "logreg")
    result = run_train_env(folder, environment(OLDER_CPU))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "OPENBLAS_CORETYPE" in line)
    assert "OPENBLAS_CORETYPE=SandyBridge" in line and "ATEN_CPU_CAPABILITY=default" in line


# The same training with numpy (and what PRELOAD adds) loaded before the pin: the settings then
# take effect.
NUMPY_FIRST = "import numpy, scipy.linalg  # loaded first: the environment decides their kernels"
UNPINNED_TRAIN = """
import sys, hashlib
{preload}
import runpy
sys.argv = ["train"]
try:
    runpy.run_module("train", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    sys.exit(exit.code)
"""


def unpinned_model(
    folder: Path, settings: dict[str, str | None], preload: str = NUMPY_FIRST
) -> tuple[int, str, dict[str, str]]:
    env = environment(settings)
    script = UNPINNED_TRAIN.format(preload=preload)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True
    )
    model = folder / "model"
    return result.returncode, result.stderr, file_hashes(model) if model.exists() else {}


def test_a_stage_whose_kernels_could_not_be_pinned_refuses_in_one_line(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path, 300, "logreg")
    code, stderr, model = unpinned_model(folder, {"OPENBLAS_CORETYPE": "SandyBridge"})
    assert code == 2
    assert "error: OpenBLAS" in stderr and "Sandybridge kernels" in stderr and "dvc.lock" in stderr
    assert "Traceback" not in stderr
    assert model == {}


def test_control_unpinned_openblas_kernels_change_the_model_bytes(tmp_path: Path) -> None:
    """Without the pin, the outside settings give other bytes: the main test can fail."""
    script = """
import hashlib
import numpy, scipy.linalg  # before the pin: the environment decides OpenBLAS's kernels
import pyarrow.parquet as pq
from common.params import TrainParams
from train.registry import build_pipeline
from train.sklearn_models import fit_pipeline, pipeline_bytes
t = pq.read_table("data/prepared/train.parquet")
p = fit_pipeline(build_pipeline(TrainParams()), t["Phrase"].to_pylist(), t["label"].to_numpy())
print(hashlib.sha256(pipeline_bytes(p)).hexdigest())
"""
    review_stage_folder(tmp_path, 20_000, "logreg")
    digests = set()
    for coretype in ("SandyBridge", "Haswell"):
        env = environment({"OPENBLAS_CORETYPE": coretype})
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 2


def test_the_lock_pins_this_python_and_platform() -> None:
    pins = locked_versions()
    assert pins["numpy"] and pins["torch"] == ("2.13.0+cpu" if sys.platform == "linux" else "2.13.0")
    assert version_problems() == []


def test_another_library_version_is_named_and_markers_pick_the_line(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# inputs sha256: 0\nnumpy==0.0.1\n"
        "scipy==0.0.2 ; python_version < '3.0'\nscipy==0.0.3 ; python_version >= '3.0'\n"
        "torch==2.13.0+cpu ; sys_platform == 'linux'\ntorch==2.13.0 ; sys_platform != 'linux'\n"
    )
    problems = version_problems(lock)
    assert any(p.startswith("numpy ") and "pins 0.0.1" in p for p in problems)
    assert any(p.startswith("scipy ") and "pins 0.0.3" in p for p in problems)
    assert not any(p.startswith("torch") for p in problems)  # +cpu is the same public version


def kernels_after_importing(package: str) -> str:
    """The CPU kernels numpy's BLAS runs on once ``package`` is imported, on an AVX-512 CPU."""
    script = f"import {package}, numpy, scipy.linalg, threadpoolctl; print(sorted({{i['architecture'] for i in threadpoolctl.threadpool_info()}}))"
    out = subprocess.run(
        [sys.executable, "-c", script], env=environment(OLDER_CPU), capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize("package", ["prepare_data", "train", "evaluate", "predict"])
def test_every_entry_point_package_pins_the_kernels_before_numpy_loads(package: str) -> None:
    """``python -m <package>`` (or any of its modules) imports the package first; an optional
    part's entry point has the same test in its tests/."""
    assert kernels_after_importing(package) == "['Haswell']"
