"""DVCLive in the train stage with the torch model (train/live.py): a row per virtual epoch,
exact resume, and `dvc exp show` of a running experiment. tests/test_dvclive.py: the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Repo
from tests.conftest import test_env as dvc_env
from tests.train_support import phrases, run_train, start_train
from torch_model.loop import train_torch_model
from torch_model.params import TorchParams
from torch_model.tests.support import make_stage_folder
from train.live import LIVE_METRICS, close_live, log_latest, open_live

SMALL = TorchParams(
    device="cpu", embedding_dim=16, channels=16, batch_size=16, stop_point=2.0, checkpoints=4, min_count=1
)


TORCH_METRICS = {"step", "train_loss", "valid_loss", "valid_accuracy", "learning_rate", "beta1"}


class Interrupted(Exception):
    """Stands for a kill between a virtual epoch's checkpoint and DVCLive's write."""


def train_small(checkpoint_dir: Path, on_virtual_epoch: Callable[[list[dict]], object]) -> None:
    texts, labels = phrases(240, seed=1)
    valid_texts, valid_labels = phrases(60, seed=2)
    train_torch_model(
        SMALL,
        7,
        texts,
        np.array(labels),
        valid_texts,
        np.array(valid_labels),
        checkpoint_dir,
        on_virtual_epoch=on_virtual_epoch,
    )


def test_a_resume_rebuilds_dvclive_from_the_checkpoint_with_no_step_repeated_or_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside any repository: DVCLive only writes its files
    whole, broken = tmp_path / "whole", tmp_path / "broken"

    live = open_live(whole / "live")
    whole_steps: list[int] = []
    train_small(
        whole / "checkpoints", lambda curves: (whole_steps.append(len(curves)), log_latest(live, curves))
    )
    close_live(live)
    assert whole_steps == [1, 2, 3, 4]

    # Virtual epoch 3's checkpoint is saved, then the run dies before DVCLive writes it.
    live = open_live(broken / "live")
    written: list[int] = []

    def dies_at_3(curves: list[dict]) -> None:
        if len(curves) == 3:
            raise Interrupted
        written.append(len(curves))
        log_latest(live, curves)

    with pytest.raises(Interrupted):
        train_small(broken / "checkpoints", dies_at_3)
    assert json.loads((broken / "live/metrics.json").read_text())["step"] == 2  # one behind

    live = open_live(broken / "live")  # a new process: DVCLive starts over, from the checkpoint
    train_small(
        broken / "checkpoints", lambda curves: (written.append(len(curves)), log_latest(live, curves))
    )
    close_live(live)
    assert written == [1, 2, 3, 4]  # step 3 comes from the checkpoint's rows, then 4 from training

    for folder in (whole, broken):
        assert sorted(p.name for p in (folder / "live").rglob("*")) == ["metrics.json"]
    assert (broken / "live/metrics.json").read_bytes() == (whole / "live/metrics.json").read_bytes()
    summary = json.loads((whole / "live/metrics.json").read_text())
    assert set(summary) == TORCH_METRICS and summary["step"] == 4


def wait_for_step(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> int:
    """Poll until DVCLive's summary at ``path`` names a step; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"train exited ({process.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        try:
            return int(json.loads(path.read_text())["step"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            time.sleep(0.01)


def test_kill_9_and_resume_leave_dvclive_files_equal_to_an_uninterrupted_runs(tmp_path: Path) -> None:
    settings = {"batch_size": 8, "stop_point": 15.0, "checkpoints": 6, "embedding_dim": 32, "channels": 32}
    killed = make_stage_folder(tmp_path / "killed", 600, {**settings, "min_count": 1})
    uninterrupted = make_stage_folder(tmp_path / "uninterrupted", 600, {**settings, "min_count": 1})

    process = start_train(killed)
    step = wait_for_step(killed / LIVE_METRICS, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert 1 <= step < 6, "the kill did not land mid-run"

    assert run_train(killed).returncode == 0
    assert run_train(uninterrupted).returncode == 0
    for name in (LIVE_METRICS, Path("metrics/training_curves.json"), Path("metrics/training_schedule.json")):
        assert (killed / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    assert json.loads((killed / LIVE_METRICS).read_text())["step"] == 6
    assert sorted(p.name for p in (killed / LIVE_METRICS).parent.iterdir()) == ["metrics.json"]


@pytest.mark.integration
def test_dvc_exp_show_shows_a_running_torch_experiments_latest_virtual_epoch(built_repo: Repo) -> None:
    checkpoints = 40
    repo = built_repo  # the data stages first, so that the run below is mostly training
    run = ("exp", "run", "-n", "live-torch", "-S", "train.model=torch", "-S", "train.torch.stop_point=120")
    process = subprocess.Popen(
        ["dvc", *run, "-S", f"train.torch.checkpoints={checkpoints}"],
        cwd=repo.path,
        env=dvc_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen_running: list[int] = []
    deadline = time.monotonic() + 600
    try:
        while process.poll() is None:
            assert time.monotonic() < deadline, "the experiment did not finish in time"
            shown = repo.run("dvc", "exp", "show", "--json", check=False)
            if shown.returncode != 0 or process.poll() is not None:
                continue
            for baseline in json.loads(shown.stdout):
                for experiment in baseline.get("experiments") or []:
                    if (experiment.get("executor") or {}).get("state") != "running":
                        continue
                    # A just-started experiment is listed with no data yet: poll again.
                    metrics = (experiment["revs"][0].get("data") or {}).get("metrics") or {}
                    step = metrics.get(str(LIVE_METRICS), {}).get("data", {}).get("step")
                    if step is not None:
                        seen_running.append(step)
    finally:
        output = process.communicate()[0]
    assert process.returncode == 0, output
    # At least one virtual epoch's metrics were shown while the experiment was still training.
    assert [step for step in seen_running if 1 <= step < checkpoints], seen_running
    assert seen_running == sorted(seen_running)
    finished = repo.experiments()["live-torch"]["metrics"][str(LIVE_METRICS)]["data"]
    assert finished["step"] == checkpoints and set(finished) == TORCH_METRICS
