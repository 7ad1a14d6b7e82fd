"""Failures against the S3 remote: wrong credentials, a missing bucket, the server dying
during ``dvc push``. Each fails clearly and non-zero, leaves the local DVC cache intact, and
the remote never ends up holding an object that a later pull would accept half-written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import Repo
from tests.remote_repos import (
    add_bare_origin,
    assert_cache_intact,
    cache_objects,
    clone,
    file_md5s,
    remote_md5s,
)
from tests.s3_server import MotoServer
from tests.test_s3_source import run_get_data

pytestmark = pytest.mark.integration

BUCKET = "my-dvc-bucket"  # the committed remote: s3://my-dvc-bucket/sentiment-pipeline
PREFIX = "sentiment-pipeline/"


def started_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, require_auth: bool = False
) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path / "moto.log", require_auth=require_auth)
    server.start()
    server.set_env(monkeypatch, tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server for this test alone, which the test may kill and restart."""
    yield from started_server(tmp_path, monkeypatch)


@pytest.fixture
def auth_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server that checks request signatures against its own IAM access key."""
    yield from started_server(tmp_path, monkeypatch, require_auth=True)


def add_blobs(repo: Repo, files: int, size: int) -> None:
    """``dvc add`` a folder of ``files`` random files of ``size`` bytes, and commit it."""
    blobs = repo.path / "blobs"
    blobs.mkdir()
    for i in range(files):
        (blobs / f"{i:04d}.bin").write_bytes(os.urandom(size))
    repo.dvc("add", "blobs")
    repo.commit("add blobs")


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR")]


def test_wrong_credentials_fail_with_one_line_and_leave_the_cache_intact(
    repo_factory: Callable[..., Repo],
    auth_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth_server.client().create_bucket(Bucket=BUCKET)
    auth_server.client().put_object(
        Bucket=BUCKET, Key="source/reviews.tsv", Body=b"Phrase\tSentiment\nok\t4\n"
    )
    repo = repo_factory()
    add_blobs(repo, files=3, size=1000)
    cache_before = {md5: path.read_bytes() for md5, path in cache_objects(repo).items()}

    for key_id, secret in [
        (auth_server.key_id, "wrong-secret"),
        ("AKIAIOSFODNN7EXAMPLE", auth_server.secret),
    ]:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        pushed = repo.dvc("push", check=False)
        assert pushed.returncode != 0
        errors = error_lines(pushed)
        assert len(errors) == 1, pushed.stderr
        assert "403" in errors[0] and "Forbidden" in errors[0], errors[0]

        fetched = run_get_data(tmp_path, f"s3://{BUCKET}/source/reviews.tsv")
        assert fetched.returncode == 2
        assert (
            fetched.stderr.strip()
            .splitlines()[-1]
            .startswith(f"get_data: error: s3://{BUCKET}/source/reviews.tsv: access denied")
        ), fetched.stderr
        assert not (tmp_path / "data/raw").exists()

    assert {md5: path.read_bytes() for md5, path in cache_objects(repo).items()} == cache_before
    assert remote_md5s(auth_server.client(), BUCKET, PREFIX) == set()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth_server.secret)
    assert "4 files pushed" in repo.dvc("push").stdout  # 3 files and the folder's listing
    assert set(cache_before) <= remote_md5s(auth_server.client(), BUCKET, PREFIX)

    add_bare_origin(repo, tmp_path / "origin.git")
    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    pulled = coworker.dvc("pull", "blobs", check=False)
    assert pulled.returncode != 0
    errors = error_lines(pulled)
    # DVC names the failure (403 Forbidden), then sums up.
    assert "Forbidden" in errors[0] and errors[-1].startswith("ERROR: failed to pull data from the cloud"), (
        errors
    )
    assert cache_objects(coworker) == {}
    assert not (coworker.path / "blobs").exists()


def test_missing_bucket_fails_clearly_and_leaves_the_cache_intact(
    repo_factory: Callable[..., Repo], own_server: MotoServer, tmp_path: Path
) -> None:
    repo = repo_factory()
    add_blobs(repo, files=2, size=1000)
    cache_before = {md5: path.read_bytes() for md5, path in cache_objects(repo).items()}

    pushed = repo.dvc("push", check=False)  # nothing has created my-dvc-bucket on this server
    assert pushed.returncode != 0
    errors = error_lines(pushed)
    assert errors and "The specified bucket does not exist" in errors[0], pushed.stderr

    add_bare_origin(repo, tmp_path / "origin.git")
    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    pulled = coworker.dvc("pull", "blobs", check=False)
    assert pulled.returncode != 0
    assert "ERROR" in pulled.stderr and "blobs" in pulled.stderr + pulled.stdout, pulled.stderr
    assert not (coworker.path / "blobs").exists() or not any((coworker.path / "blobs").iterdir())

    fetched = run_get_data(tmp_path, "s3://no-such-bucket/reviews.tsv")
    assert fetched.stderr.strip().splitlines()[-1] == (
        f"get_data: error: s3://no-such-bucket/reviews.tsv: bucket 'no-such-bucket' does not exist at "
        f"{own_server.url}"
    )
    assert {md5: path.read_bytes() for md5, path in cache_objects(repo).items()} == cache_before


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def test_server_stopping_during_push_fails_then_push_completes_and_pull_verifies(
    repo_factory: Callable[..., Repo], own_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_server.client().create_bucket(Bucket=BUCKET)
    repo = repo_factory()
    add_blobs(repo, files=600, size=16_000)
    add_bare_origin(repo, tmp_path / "origin.git")
    cache_before = {md5: path.read_bytes() for md5, path in cache_objects(repo).items()}

    # Two transfers at a time, so that the push is still going when the server dies; no
    # retries, so that each transfer left fails at once.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    push = subprocess.Popen(
        ["dvc", "push", "-j", "2"],
        cwd=repo.path,
        env=conftest.tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: bool(remote_md5s(own_server.client(), BUCKET, PREFIX)), 120, "the first pushed object"
        )
        own_server.stop()
        stdout, stderr = push.communicate(timeout=300)
    finally:
        if push.poll() is None:
            push.kill()
    assert push.returncode != 0, stdout
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    # DVC names each object it could not transfer, then sums up in one last line.
    assert errors[-1].startswith("ERROR: failed to push data to the cloud - "), stderr
    # ("Could not connect to the endpoint URL", or "Connection was closed" for those in flight)
    assert all(line.startswith("ERROR: failed to transfer '") for line in errors[:-1]), stderr
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert {md5: path.read_bytes() for md5, path in cache_objects(repo).items()} == cache_before

    # moto keeps its objects in memory: the restarted server is empty, bucket included.
    own_server.start()
    own_server.client().create_bucket(Bucket=BUCKET)
    pushed = repo.dvc("push")
    assert f"{len(cache_before)} files pushed" in pushed.stdout, pushed.stdout
    assert set(cache_before) <= remote_md5s(own_server.client(), BUCKET, PREFIX)

    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    coworker.dvc("pull", "blobs")  # the pipeline has not run here: blobs is the only output
    assert file_md5s(coworker.path, ("blobs",)) == file_md5s(repo.path, ("blobs",))
    assert_cache_intact(coworker)
    assert set(cache_objects(coworker)) == set(cache_before)
    assert_cache_intact(repo)


def test_pull_refuses_a_truncated_object_in_the_remote(
    repo_factory: Callable[..., Repo], own_server: MotoServer, tmp_path: Path
) -> None:
    own_server.client().create_bucket(Bucket=BUCKET)
    repo = repo_factory()
    add_blobs(repo, files=2, size=10_000)
    add_bare_origin(repo, tmp_path / "origin.git")
    repo.dvc("push")
    victim = (repo.path / "blobs/0000.bin").read_bytes()
    md5 = hashlib.md5(victim).hexdigest()
    key = f"{PREFIX}files/md5/{md5[:2]}/{md5[2:]}"
    own_server.client().put_object(Bucket=BUCKET, Key=key, Body=victim[:5_000])  # half an upload

    coworker = clone(tmp_path / "origin.git", tmp_path / "coworker")
    pulled = coworker.dvc("pull", "blobs", check=False)  # `verify = true` in .dvc/config
    assert pulled.returncode != 0
    assert "ERROR: failed to pull data from the cloud" in pulled.stderr, pulled.stderr
    assert md5 not in cache_objects(coworker)
    assert not (coworker.path / "blobs/0000.bin").exists()
    for other_md5, path in cache_objects(coworker).items():
        assert hashlib.md5(path.read_bytes()).hexdigest() == other_md5
