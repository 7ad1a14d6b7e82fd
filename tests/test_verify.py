"""``make verify`` (scripts/verify.py) in a real git + DVC repository copy."""

from __future__ import annotations

import json
import sys

from tests.conftest import Repo


def verify(repo: Repo):
    return repo.run(sys.executable, "scripts/verify.py", check=False)


def test_verify_says_every_artifact_is_identical_after_a_committed_run(built_repo: Repo) -> None:
    repo = built_repo  # the results committed
    result = verify(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout.split("against its dvc.lock", 1)[1]
    for artifact in ("data/prepared", "model", "metrics/model_performance.json"):
        assert any(line.split() == [artifact, "identical"] for line in report.splitlines()), report
    assert "DIFFERENT" not in report


def test_verify_names_the_artifact_file_and_metric_that_differ(built_repo: Repo) -> None:
    repo = built_repo  # the results committed
    committed = json.loads((repo.path / "metrics/model_performance.json").read_text())
    # A commit whose dvc.lock no longer matches what its params make: what verify is for.
    repo.set_params(train={"logreg": {"C": 0.01, "max_iter": 1000}})
    repo.commit("params changed, results not re-run")
    result = verify(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    report = result.stdout.split("against its dvc.lock", 1)[1]
    lines = report.splitlines()
    assert any(line.split() == ["data/prepared", "identical"] for line in lines)
    assert any(line.split() == ["model", "DIFFERENT"] for line in lines)
    files_line = next(line for line in lines if "files that differ:" in line)
    assert "model.skops" in files_line and "meta.json" in files_line
    accuracy = next(line.strip() for line in lines if line.strip().startswith("accuracy:"))
    assert accuracy.startswith(f"accuracy: {committed['accuracy']} -> ")
    assert "artifacts identical" in lines[-1]
