"""The predict stage (keyed predictions of the test split) and ``python -m predict.diff``, the
command behind ``make diff-predictions``, in a real DVC repository copy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pyarrow.parquet as pq
import pytest

from tests.conftest import Repo
from tests.conftest import test_env as stage_env

pytestmark = pytest.mark.integration
OUTPUT = "data/predictions/test.parquet"


def diff(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    env = stage_env()
    env["PYTHONPATH"] = str(repo.path)
    return subprocess.run(
        [sys.executable, "-m", "predict.diff", *args], cwd=repo.path, env=env, capture_output=True, text=True
    )


def test_the_stage_keys_the_test_split_and_diff_lists_the_changed_rows(
    repo_factory: Callable[..., Repo],
) -> None:
    repo = repo_factory()
    assert "Running stage 'predict'" in repo.dvc("repro").stdout
    test = pq.read_table(repo.path / "data/prepared/test.parquet")
    main = pq.read_table(repo.path / OUTPUT)
    # predict.key: [] (the default): keyed by the row's number in the test split.
    assert main.column_names == ["row", "score", "label", "prediction"]
    assert main["row"].to_pylist() == list(range(test.num_rows))
    repo.commit("baseline")
    assert repo.dvc("status").stdout.strip() == "Data and pipelines are up to date."

    repo.dvc("exp", "run", "-n", "svm", "-S", "train.model=svm")
    svm = pq.read_table(repo.path / OUTPUT)
    changed = {
        key
        for key, a, b in zip(
            main["row"].to_pylist(), main["label"].to_pylist(), svm["label"].to_pylist(), strict=True
        )
        if a != b
    }
    assert changed, "the two models should disagree on some rows"

    result = diff(repo, "main", "svm", "--limit", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{len(changed)} of {main.num_rows} rows changed label between main and svm")
    assert lines[1].split() == ["row", "label_a", "label_b", "score_a", "score_b"]
    assert {int(line.split()[0]) for line in lines[2:]} == changed

    # A key param: the stage re-runs and keys by both columns.
    repo.dvc("exp", "run", "-S", "predict.key=[SentenceId,PhraseId]")
    assert pq.read_table(repo.path / OUTPUT).column_names[:2] == ["SentenceId", "PhraseId"]
    result = diff(repo, "main", "no-such-rev")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "predict.diff: error: no-such-rev: no such commit, branch, tag or experiment"
    )
