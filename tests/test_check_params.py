"""A bad param fails before DVC deletes any output: the check_params stage runs first.

DVC removes a stage's outputs before it runs the stage's command, so without it `modulus: 0`
would leave `D metrics/split.json` in `git status` even though prepare_data refused it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import Repo

pytestmark = pytest.mark.integration

OUTPUTS = ("data/raw/reviews.tsv", "data/prepared/train.parquet", "metrics/split.json", "model/meta.json")


def snapshot(repo: Repo) -> dict[str, bytes]:
    return {name: (repo.path / name).read_bytes() for name in OUTPUTS}


@pytest.mark.parametrize("command", ["repro", "exp run"])
def test_a_bad_param_fails_before_dvc_deletes_any_output(
    repo_factory: Callable[..., Repo], command: str
) -> None:
    repo = repo_factory(built=True)
    before = snapshot(repo)
    if command == "repro":
        repo.set_params(split={"modulus": 0})
        failed = repo.dvc("repro", check=False)
    else:
        failed = repo.dvc("exp", "run", "-S", "split.modulus=0", check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "check_params: error: params.yaml: split.modulus: must be at least 2, got 0" in output, output
    assert "Running stage 'prepare_data'" not in output
    assert repo.run("git", "status", "--porcelain").stdout.splitlines() == [" M params.yaml"]
    assert snapshot(repo) == before
    # Fixed, the pipeline runs on; changing only train.* re-runs only train and evaluate.
    repo.set_params(split={"modulus": 10}, train={"model": "svm"})
    rerun = repo.dvc("repro").stdout
    assert "Running stage 'check_params'" in rerun and "Running stage 'prepare_data'" not in rerun
    assert "Running stage 'train'" in rerun
