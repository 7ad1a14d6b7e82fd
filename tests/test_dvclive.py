"""DVCLive in the train stage (train/live.py): live metrics, a reproducible lock. The torch
model's virtual epochs and exact resume: torch_model/tests/test_torch_dvclive.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Repo, run_module
from tests.train_support import make_stage_folder, run_train
from train.live import LIVE_METRICS, latest_metrics


def test_latest_metrics_are_the_last_row_with_its_virtual_epoch_as_step() -> None:
    rows = [
        {"virtual_epoch": 1, "train_loss": 0.7, "valid_loss": 0.6},
        {"virtual_epoch": 2, "train_loss": 0.5, "valid_loss": 0.4},
    ]
    assert latest_metrics(rows) == (2, {"train_loss": 0.5, "valid_loss": 0.4})
    with pytest.raises(ValueError, match="no virtual epoch"):
        latest_metrics([])


def test_a_scikit_learn_model_logs_its_single_step(tmp_path: Path) -> None:
    folder = make_stage_folder(tmp_path / "logreg", 300, model="logreg")
    result = run_train(folder)
    assert result.returncode == 0, result.stderr
    summary = json.loads((folder / LIVE_METRICS).read_text())
    curves = json.loads((folder / "metrics/training_curves.json").read_text())
    assert summary == {**{k: v for k, v in curves[0].items() if k != "virtual_epoch"}, "step": 1}


@pytest.mark.integration
def test_dvc_lock_reproduces_and_dvclive_leaves_dvc_yaml_and_git_alone(repo: Repo) -> None:
    repo.dvc("repro")
    lock = (repo.path / "dvc.lock").read_text()
    summary = (repo.path / LIVE_METRICS).read_bytes()
    assert set(json.loads(summary)) == {"step", "train_loss", "valid_loss", "valid_accuracy"}
    assert str(LIVE_METRICS) in {out["path"] for out in yaml.safe_load(lock)["stages"]["train"]["outs"]}
    repo.commit("pipeline run")

    repo.dvc("repro", "-f")  # every stage again: the same lock, byte for byte
    assert (repo.path / "dvc.lock").read_text() == lock
    assert (repo.path / LIVE_METRICS).read_bytes() == summary

    # Outside DVC, DVCLive saves no experiment and adds nothing to dvc.yaml.
    assert run_module("train", repo.path).returncode == 0
    assert repo.run("git", "for-each-ref", "refs/exps").stdout == ""
    assert repo.run("git", "status", "--porcelain").stdout == ""
    assert repo.dvc("status").stdout.strip() == "Data and pipelines are up to date."
