"""``dvc push`` / ``dvc pull`` / ``dvc exp push`` / ``dvc exp pull`` through the committed S3
remote ``storage`` (s3://my-dvc-bucket/sentiment-pipeline), served by moto on loopback.

The committed ``.dvc/config`` is used as is; only the endpoint comes from outside, as the
README tells users: ``.dvc/config.local`` in the original repository, ``AWS_ENDPOINT_URL``
in the clones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.remote_repos import (
    OUTPUT_DIRS,
    STAGES,
    add_bare_origin,
    assert_cache_intact,
    cache_objects,
    cached_out_md5s,
    clone,
    file_md5s,
    ran_stages,
    remote_md5s,
)
from tests.s3_server import MotoServer, free_port

pytestmark = pytest.mark.integration

BUCKET = "my-dvc-bucket"
PREFIX = "sentiment-pipeline/"
UP_TO_DATE = "Data and pipelines are up to date."


def ensure_bucket(server: MotoServer) -> None:
    client = server.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)


def test_push_then_pull_into_a_clone_gives_each_branchs_outputs(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_bucket(s3_env)
    repo = repo_factory()
    assert repo.dvc("remote", "default").stdout.strip() == "storage"
    # The documented local setting; AWS_ENDPOINT_URL points at a closed loopback port, so the
    # push below can only succeed through .dvc/config.local.
    repo.dvc("remote", "modify", "--local", "storage", "endpointurl", s3_env.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")

    assert ran_stages(repo.dvc("repro").stdout) == list(STAGES)
    repo.commit("run the pipeline")
    add_bare_origin(repo, tmp_path / "origin.git")
    pushed = repo.dvc("push")
    assert "pushed" in pushed.stdout, pushed.stdout
    assert cached_out_md5s(repo) <= remote_md5s(s3_env.client(), BUCKET, PREFIX)
    assert "Everything is up to date" in repo.dvc("push").stdout

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env.url)
    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    assert not (coworker.path / "model").exists()
    coworker.dvc("pull")
    assert file_md5s(coworker.path) == file_md5s(repo.path)
    assert set(file_md5s(coworker.path)) >= {"data/raw/reviews.tsv", "data/prepared/test.parquet"}
    assert_cache_intact(coworker)
    assert set(cache_objects(coworker)) <= remote_md5s(s3_env.client(), BUCKET, PREFIX)
    assert coworker.dvc("status").stdout.strip() == UP_TO_DATE
    assert ran_stages(coworker.dvc("repro").stdout) == []
    assert coworker.run("git", "status", "--porcelain").stdout == ""

    # The README's coworker flow: `git checkout <branch> && dvc pull` gives exactly that
    # branch's data, model and metrics, and going back gives main's again.
    main_outputs = file_md5s(repo.path)
    repo.run("git", "checkout", "-q", "-b", "svm-model")
    repo.set_params(train={"model": "svm"})
    assert ran_stages(repo.dvc("repro").stdout) == ["train", "evaluate"]
    repo.commit("svm model")
    repo.run("git", "push", "-q", "origin", "svm-model")
    repo.dvc("push")
    branch_outputs = file_md5s(repo.path)
    assert branch_outputs["model/meta.json"] != main_outputs["model/meta.json"]

    coworker.run("git", "fetch", "-q", "origin")
    coworker.run("git", "checkout", "-q", "svm-model")
    coworker.dvc("pull")
    assert file_md5s(coworker.path) == branch_outputs
    assert coworker.dvc("status").stdout.strip() == UP_TO_DATE
    coworker.run("git", "checkout", "-q", "main")
    coworker.dvc("pull")
    assert file_md5s(coworker.path) == main_outputs
    assert_cache_intact(coworker)


def test_experiment_shared_through_git_and_s3_remotes(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    ensure_bucket(s3_env)
    repo = repo_factory(built=True)
    add_bare_origin(repo, tmp_path / "origin.git")
    repo.dvc("push")

    repo.dvc("exp", "run", "-n", "s3-svm", "-S", "train.model=svm")
    experiment_outputs = file_md5s(repo.path)
    experiment_metrics = json.loads((repo.path / "metrics/model_performance.json").read_text())
    pushed = repo.dvc("exp", "push", "origin", "s3-svm")
    assert "s3-svm" in pushed.stdout + pushed.stderr

    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    coworker.dvc("exp", "pull", "origin", "s3-svm")
    assert "s3-svm" in coworker.dvc("exp", "list", "--name-only").stdout
    coworker.dvc("exp", "apply", "s3-svm")
    coworker.dvc("pull")
    assert coworker.params()["train"]["model"] == "svm"
    assert json.loads((coworker.path / "metrics/model_performance.json").read_text()) == experiment_metrics
    assert file_md5s(coworker.path) == experiment_outputs
    for output_dir in OUTPUT_DIRS:
        assert any(path.startswith(f"{output_dir}/") for path in experiment_outputs), output_dir
    assert_cache_intact(coworker)
    assert coworker.dvc("status").stdout.strip() == UP_TO_DATE
