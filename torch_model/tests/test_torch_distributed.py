"""train.torch.processes: 2 on the CPU: real torch.distributed (gloo) under torch.distributed.run.

A DDP step equals the single-process step on the same examples; the train stage with 2
processes repeats its bytes, resumes after ``kill -9`` of a worker to the bytes of an
uninterrupted run, and leaves one model/ written by rank 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch

from tests.conftest import ROOT
from tests.train_support import file_hashes, has_no_model, run_train, start_train, train_command_env
from torch_model import distributed
from torch_model.loop import accumulated_step
from torch_model.model import configure_determinism
from torch_model.tests import ddp_step
from torch_model.tests.support import make_stage_folder
from torch_model.tests.test_torch_stage import CHECKPOINT, RESUMABLE, wait_for

# RESUMABLE's run (several checkpoints, each about a second of steps), on two processes.
TWO_PROCESSES = {**RESUMABLE, "processes": 2}


def test_a_two_process_ddp_step_equals_the_single_process_step(tmp_path: Path) -> None:
    out = tmp_path / "step.pt"
    subprocess.run(
        [
            sys.executable,
            *distributed.launch_command(2)[1:-2],
            str(ROOT / "torch_model/tests/ddp_step.py"),
            str(out),
        ],
        env=train_command_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    ddp = torch.load(out, weights_only=True)
    assert ddp["world_size"] == 2

    configure_determinism(1)
    single = ddp_step.model()
    loss = accumulated_step(single, ddp_step.optimizer_of(single), ddp_step.micro_batches())
    assert ddp["loss"] == pytest.approx(loss, rel=1e-6)
    for name, parameter in single.named_parameters():
        torch.testing.assert_close(ddp["grads"][name], parameter.grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(ddp["params"][name], parameter.detach(), rtol=1e-5, atol=1e-7)

    # Rank 0's own gradient (before DDP averaged it with rank 1's) is not the step's.
    alone = ddp_step.model()
    rank0 = distributed.World(rank=0, size=2)
    shards = [
        (ids[distributed.shard(len(y), rank0)], y[distributed.shard(len(y), rank0)])
        for ids, y in ddp_step.micro_batches()
    ]
    accumulated_step(alone, ddp_step.optimizer_of(alone), shards, distributed.loss_divisor(15, rank0))
    assert not torch.allclose(alone.output.weight.grad, ddp["grads"]["output.weight"], rtol=1e-3)


def worker(launcher: subprocess.Popen[str], rank: int) -> psutil.Process:
    """The torch.distributed.run worker of ``rank`` under the train stage ``launcher``."""
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and child.environ().get("LOCAL_RANK") is not None:
                return child
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no worker of rank {rank} under process {launcher.pid}")


def test_two_processes_resume_after_kill_9_of_a_worker_to_the_uninterrupted_bytes(tmp_path: Path) -> None:
    killed = make_stage_folder(tmp_path / "killed", 600, TWO_PROCESSES)
    process = start_train(killed)
    wait_for(killed / CHECKPOINT, process)
    os.kill(worker(process, rank=1).pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2
    assert "train: error: train.torch.processes: 2 processes under torch.distributed.run failed" in stderr
    state = torch.load(killed / CHECKPOINT, weights_only=True)
    assert 1 <= state["virtual_epoch"] < TWO_PROCESSES["checkpoints"], "the kill did not land mid-run"
    assert has_no_model(killed)

    resumed = run_train(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after virtual epoch {state['virtual_epoch']} of 6" in resumed.stderr

    uninterrupted = make_stage_folder(tmp_path / "uninterrupted", 600, TWO_PROCESSES)
    done = run_train(uninterrupted)
    assert done.returncode == 0, done.stderr
    assert file_hashes(killed / "model") == file_hashes(uninterrupted / "model")
    for name in ("training_curves.json", "training_schedule.json"):
        assert (killed / "metrics" / name).read_bytes() == (uninterrupted / "metrics" / name).read_bytes()
    # a finished run keeps no resume state
    assert [p.name for p in (killed / "checkpoints").iterdir()] == ["kept.json"]
    meta = json.loads((killed / "model/meta.json").read_text())
    assert meta["params"]["torch"]["processes"] == 2
    assert meta["examples_seen"] == 15 * 600

    # One process takes the same steps on the same examples, but draws its own dropout masks:
    # another model, of about the same quality.
    single = make_stage_folder(tmp_path / "single", 600, {**TWO_PROCESSES, "processes": 1})
    assert run_train(single).returncode == 0
    assert file_hashes(single / "model")["model.pt"] != file_hashes(killed / "model")["model.pt"]
    single_meta = json.loads((single / "model/meta.json").read_text())
    assert abs(single_meta["valid_accuracy"] - meta["valid_accuracy"]) <= 0.05


def test_two_processes_on_the_default_data_are_within_a_point_of_one(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from common.params import DataParams, SplitParams
    from common.prepared import read_split
    from prepare_data.split import prepare
    from prepare_data.synthetic import generate_reviews
    from train.model_store import load_scorer

    # get_data's default data, split by the default params (as `make repro` makes them).
    tables, _ = prepare(
        pa.table(generate_reviews(DataParams().synthetic_rows, seed=42)), DataParams(), SplitParams()
    )
    accuracy = {}
    for processes in (1, 2):
        folder = tmp_path / f"processes{processes}"
        (folder / "data/prepared").mkdir(parents=True)
        for name, table in tables.items():
            pq.write_table(table, folder / f"data/prepared/{name}.parquet")
        params = {"train": {"model": "torch", "torch": {"device": "cpu", "processes": processes}}}
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        done = run_train(folder)
        assert done.returncode == 0, done.stderr
        texts, labels = read_split("test", "Phrase", folder / "data/prepared")
        _, predicted = load_scorer(folder / "model", unlocked=True).predict(texts)
        accuracy[processes] = float((predicted == labels).mean())
    assert accuracy[1] > 0.85  # a model that learned something, so the comparison means something
    assert abs(accuracy[2] - accuracy[1]) <= 0.01, accuracy
