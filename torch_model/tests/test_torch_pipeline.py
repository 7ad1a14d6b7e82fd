"""``dvc exp run -S train.model=torch`` in a temp copy of the repository, end to end."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import Repo, params, performance

pytestmark = pytest.mark.integration


def test_torch_experiment_is_trained_scored_and_listed(repo: Repo) -> None:
    repo.dvc("exp", "run", "-n", "torch-test", "-S", "train.model=torch")

    meta = json.loads((repo.path / "model/meta.json").read_text())
    assert meta["kind"] == "torch"
    # The finished run left no resume state: dvc.lock records the same folder as logreg's, only
    # the list of kept checkpoints (none), so that DVC never warns of an empty output.
    assert [p.name for p in (repo.path / "checkpoints").iterdir()] == ["kept.json"]
    assert json.loads((repo.path / "checkpoints/kept.json").read_text()) == {"kept": []}
    curves = json.loads((repo.path / "metrics/training_curves.json").read_text())
    assert [row["virtual_epoch"] for row in curves] == list(range(1, 9))

    experiments = repo.experiments()
    assert "torch-test" in experiments
    data = experiments["torch-test"]
    assert params(data)["train"]["model"] == "torch"
    metrics = performance(data)
    assert 0.7 < metrics["accuracy"] <= 1.0
    assert 0.7 < metrics["roc_auc"] <= 1.0

    # `dvc plots show` draws the curves: the rows it plots carry each virtual epoch's losses.
    plots = json.loads(repo.dvc("plots", "show", "--json").stdout)["data"]
    drawn = set()
    for render in (render for renders in plots.values() for render in renders):
        spec = json.dumps({key: value for key, value in render["content"].items() if key != "data"})
        for row in render["content"]["data"]["values"]:
            # A plot of several y fields tags each row with its field; one of a single y names
            # the field in its encoding.
            fields = [row["field"]] if "field" in row else [f for f in row if f'"{f}"' in spec]
            drawn.update((field, row.get("virtual_epoch")) for field in fields)
    for field in ("train_loss", "valid_loss", "valid_accuracy"):
        assert {(field, epoch) for epoch in range(1, 9)} <= drawn, field

    # Re-running the same experiment changes nothing: the stage is cached, the model identical.
    model_bytes = (repo.path / "model/model.pt").read_bytes()
    rerun = repo.dvc("exp", "run", "-S", "train.model=torch")
    assert "Running stage 'train'" not in rerun.stdout
    assert (repo.path / "model/model.pt").read_bytes() == model_bytes


def lock_outs(repo: Repo, stage: str) -> dict[str, dict]:
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    return {out["path"]: out for out in lock["stages"][stage]["outs"]}


def test_kept_checkpoints_and_a_continued_run_through_dvc(repo: Repo) -> None:
    torch_run = ("-S", "train.model=torch")
    repo.dvc("exp", "run", *torch_run)
    plain = lock_outs(repo, "train")
    repo.dvc("exp", "run", *torch_run, "-S", "train.torch.keep_checkpoints=all")
    kept = lock_outs(repo, "train")
    # The kept checkpoints are checkpoints/' own output: model/ has the same hash.
    assert kept["model"]["md5"] == plain["model"]["md5"]
    # nfiles: the kept checkpoints plus kept.json, their list.
    assert plain["checkpoints"]["nfiles"] == 1 and kept["checkpoints"]["nfiles"] == 9

    # Train a bit longer from virtual epoch 8 with a fixed budget of 2,000 more examples.
    longer = (
        *torch_run,
        "-S", "train.torch.keep_checkpoints=all",
        "-S", "train.torch.init_from=8",
        "-S", "train.torch.stop_point=null",
        "-S", "train.torch.training_examples=2000",
        "-S", "train.torch.checkpoints=2",
        "-S", "train.torch.schedule=one_cycle",
    )  # fmt: skip
    repo.dvc("exp", "run", *longer)
    assert repo.params()["train"]["torch"]["stop_point"] is None
    meta = json.loads((repo.path / "model/meta.json").read_text())
    assert (meta["started_after_virtual_epoch"], meta["examples_seen"]) == (8, 2000)
    curves = json.loads((repo.path / "metrics/training_curves.json").read_text())
    assert [row["virtual_epoch"] for row in curves] == list(range(1, 11))
    continued = lock_outs(repo, "train")
    assert continued["checkpoints"]["nfiles"] == 11

    # Run again from what dvc.lock records (its checkpoints/ holds what the run started from):
    # the same outputs, bit for bit.
    before = (repo.path / "dvc.lock").read_text()
    repo.dvc("repro", "--force", "--single-item", "train")
    assert (repo.path / "dvc.lock").read_text() == before
