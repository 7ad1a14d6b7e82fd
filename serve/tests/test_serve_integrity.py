"""The hostile remote of tests/test_model_integrity.py, on the model service: with
``verify = false`` a DVC pull checks out whatever the bucket holds, and an attacker has
replaced ``model.skops`` with a pickle that creates a file when it is loaded. ``serve``, of the
workspace or of ``--rev main``, must refuse with one line, and the file must not exist
afterwards: the pickle was never run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from serve.tests.support import ServeProcess, refusal
from tests.conftest import Repo
from tests.remote_repos import clone
from tests.s3_server import MotoServer
from tests.test_model_integrity import assert_one_line_refusal, pushed_repo, tamper


@pytest.mark.integration
def test_a_tampered_remote_model_is_refused_by_serve_without_running_it(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    repo, origin, model_md5 = pushed_repo(repo_factory, s3_env, tmp_path)

    # Untouched remote: `serve --rev main` in a clone with an empty cache reads model/ from S3.
    reader = clone(origin, tmp_path / "reader")
    server = ServeProcess(["--rev", "main"], reader.path, tmp_path / "reader.log")
    try:
        server.wait_ready()
        status, info = server.request("GET", "/model")
        assert status == 200 and info["md5"] == model_md5 and info["matches_dvc_lock"], info
        assert info["git_revision"] == repo.run("git", "rev-parse", "main").stdout.strip()
    finally:
        assert server.stop() == 0

    coworker, marker = tamper(repo, s3_env, origin, tmp_path)
    assert_one_line_refusal(refusal([], coworker.path), "serve", "model/model.skops: SHA-256")
    assert_one_line_refusal(refusal(["--rev", "main"], coworker.path), "serve", "main:model: DVC hash")
    fresh = clone(origin, tmp_path / "fresh")  # straight from the tampered remote
    assert_one_line_refusal(refusal(["--rev", "main"], fresh.path), "serve", "main:model: DVC hash")
    assert not marker.exists()
