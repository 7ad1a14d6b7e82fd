"""``python -m train`` with the torch model as a subprocess: kill -9 and resume, bad input."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import torch

from tests.train_support import (
    file_hashes,
    has_no_model,
    run_train,
    start_train,
    train_command_env,
    write_split,
)
from torch_model.tests.support import make_stage_folder

# Small data, several checkpoints, and enough steps per virtual epoch (about a second) that a
# kill right after the first checkpoint lands in the middle of the run.
RESUMABLE = {
    "batch_size": 8,
    "stop_point": 15.0,
    "checkpoints": 6,
    "embedding_dim": 32,
    "channels": 32,
    "min_count": 1,
}
CHECKPOINT = Path("checkpoints/last.pt")


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Poll until ``path`` exists; fail if the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"train exited ({process.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.01)


def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_model_bit_for_bit(tmp_path: Path) -> None:
    uninterrupted = make_stage_folder(tmp_path / "uninterrupted", 600, RESUMABLE)
    killed = make_stage_folder(tmp_path / "killed", 600, RESUMABLE)

    process = start_train(killed)
    wait_for(killed / CHECKPOINT, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    state = torch.load(killed / CHECKPOINT, weights_only=True)
    assert 1 <= state["virtual_epoch"] < RESUMABLE["checkpoints"], "the kill did not land mid-run"
    assert has_no_model(killed)
    assert not (killed / "metrics/training_curves.json").exists()

    resumed = run_train(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after virtual epoch {state['virtual_epoch']} of 6" in resumed.stderr
    complete = run_train(uninterrupted)
    assert complete.returncode == 0, complete.stderr
    assert "resuming" not in complete.stderr

    for folder in (killed, uninterrupted):  # a finished run keeps no resume state
        assert [p.name for p in (folder / "checkpoints").iterdir()] == ["kept.json"]
    model_hashes = file_hashes(killed / "model")
    assert set(model_hashes) == {"model.pt", "vocab.json", "meta.json", "manifest.json"}
    assert model_hashes == file_hashes(uninterrupted / "model")
    curves = (killed / "metrics/training_curves.json").read_text()
    assert curves == (uninterrupted / "metrics/training_curves.json").read_text()
    assert [row["virtual_epoch"] for row in json.loads(curves)] == [1, 2, 3, 4, 5, 6]
    # Not a terminal: no progress bar in the log, one line per virtual epoch.
    assert "it/s" not in complete.stderr and "step/s" not in complete.stderr
    assert complete.stderr.count("train: virtual epoch") == 6


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        ([], [], "train.parquet: has no rows"),
        (
            ["good movie", "great fun", "superb"],
            [1, 1, 1],
            "train.parquet: column 'label' has a single class (1)",
        ),
        (["good movie", None, "awful"], [1, 0, 0], "train.parquet: column 'Phrase' is null in row 1"),
    ],
    ids=["empty", "single-class", "null-text"],
)
def test_bad_train_split_is_one_clear_line_and_no_model(
    tmp_path: Path, texts: list[str | None], labels: list[int], message: str
) -> None:
    folder = make_stage_folder(tmp_path, 100, RESUMABLE)
    write_split(folder, "train", texts, labels)
    result = run_train(folder)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train: error: data/prepared/")
    assert message in lines[0]
    assert has_no_model(folder)


def test_a_scikit_learn_model_writes_one_row_of_training_curves(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path, 300, {}, model="svm")
    result = run_train(folder)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads((folder / "metrics/training_curves.json").read_text())
    assert row["virtual_epoch"] == 1
    assert 0 < row["train_loss"] < 0.7 and 0 < row["valid_loss"] < 0.7  # below chance: log 2
    assert row["valid_accuracy"] == json.loads((folder / "model/meta.json").read_text())["valid_accuracy"]
    assert (folder / "checkpoints").is_dir()  # the stage's persisted output exists for every model


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path, 200, {**RESUMABLE, "stop_point": 2.0, "checkpoints": 2})
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "train"], cwd=folder, env=train_command_env(), stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    output = b""
    with contextlib.suppress(OSError):  # reading the controller fails once the child has exited
        while chunk := os.read(controller, 4096):
            output += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0
    text = output.decode(errors="replace")
    assert "100%" in text and "step/s" in text
    assert text.count("train: virtual epoch") == 2
