"""``python -m train`` with kept checkpoints and ``init_from``: what stays in checkpoints/,
model/ unchanged by keeping, and a continued run killed with -9 resumes bit for bit."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import torch
import yaml

from common.params import read_params_yaml
from tests.train_support import file_hashes, run_train, start_train
from torch_model.tests.support import make_stage_folder
from torch_model.tests.test_torch_stage import RESUMABLE, wait_for

CHECKPOINTS = Path("checkpoints")


def epoch_files(*epochs: int) -> list[str]:
    return [f"virtual_epoch_{epoch:03d}.pt" for epoch in epochs]


def kept(*epochs: int) -> list[str]:
    """The files of checkpoints/ after a run that kept these virtual epochs (and its list)."""
    return sorted(["kept.json", *epoch_files(*epochs)])


def set_torch(folder: Path, **values: object) -> None:
    params = read_params_yaml(folder / "params.yaml")
    params["train"]["torch"].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def trained(folder: Path) -> None:
    result = run_train(folder)
    assert result.returncode == 0, result.stderr


def test_kept_checkpoints_continue_and_a_killed_continued_run_resumes_bit_for_bit(tmp_path: Path) -> None:
    # Keeping every checkpoint changes nothing in model/ (meta.json leaves keep_checkpoints out).
    last = make_stage_folder(tmp_path / "last", 600, RESUMABLE)
    base = make_stage_folder(tmp_path / "base", 600, {**RESUMABLE, "keep_checkpoints": "all"})
    trained(last)
    trained(base)
    assert file_hashes(base / "model") == file_hashes(last / "model")
    assert sorted(os.listdir(last / CHECKPOINTS)) == kept()
    assert sorted(os.listdir(base / CHECKPOINTS)) == kept(1, 2, 3, 4, 5, 6)

    # Train a bit longer from virtual epoch 6, with a lower learning rate, twice: once killed.
    folders = {}
    for name in ("killed", "uninterrupted"):
        folder = tmp_path / name
        shutil.copytree(base, folder)
        set_torch(folder, init_from=6, stop_point=10.0, checkpoints=4, learning_rate=0.001)
        folders[name] = folder
    process = start_train(folders["killed"])
    wait_for(folders["killed"] / CHECKPOINTS / "last.pt", process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    state = torch.load(folders["killed"] / CHECKPOINTS / "last.pt", weights_only=True)
    assert state["first_epoch"] == 6 and 7 <= state["virtual_epoch"] < 10, "the kill did not land mid-run"
    resumed = run_train(folders["killed"])
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after virtual epoch {state['virtual_epoch'] - 6} of 4" in resumed.stderr
    complete = run_train(folders["uninterrupted"])
    assert complete.returncode == 0, complete.stderr
    assert "starting from virtual epoch 6 of checkpoints/virtual_epoch_006.pt" in complete.stderr

    assert file_hashes(folders["killed"] / "model") == file_hashes(folders["uninterrupted"] / "model")
    assert file_hashes(folders["killed"] / CHECKPOINTS) == file_hashes(folders["uninterrupted"] / CHECKPOINTS)
    assert sorted(os.listdir(folders["killed"] / CHECKPOINTS)) == kept(*range(1, 11))
    # The first six kept checkpoints are the ones it started from, untouched.
    for name in epoch_files(*range(1, 7)):
        assert (folders["killed"] / CHECKPOINTS / name).read_bytes() == (
            base / CHECKPOINTS / name
        ).read_bytes()
    curves = json.loads((folders["killed"] / "metrics/training_curves.json").read_text())
    base_curves = json.loads((base / "metrics/training_curves.json").read_text())
    assert [row["virtual_epoch"] for row in curves] == list(range(1, 11))
    assert curves[:6] == base_curves
    schedule = json.loads((folders["killed"] / "metrics/training_schedule.json").read_text())
    assert [row["virtual_epoch"] for row in schedule] == list(range(1, 11))
    assert max(row["learning_rate"] for row in schedule[6:]) <= 0.001
    meta = json.loads((folders["killed"] / "model/meta.json").read_text())
    assert (meta["started_after_virtual_epoch"], meta["virtual_epochs_run"]) == (6, 4)
    assert meta["best_virtual_epoch"] > 6

    # Started from virtual epoch 3 and keeping only the last: what it started from stays.
    folder = folders["uninterrupted"]
    set_torch(folder, init_from=3, keep_checkpoints="last", stop_point=2.0, checkpoints=2)
    trained(folder)
    assert sorted(os.listdir(folder / CHECKPOINTS)) == kept(1, 2, 3)
    curves = json.loads((folder / "metrics/training_curves.json").read_text())
    assert [row["virtual_epoch"] for row in curves] == [1, 2, 3, 4, 5]
