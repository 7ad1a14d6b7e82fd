"""``serve --rev`` of a GTO registration (docs/ecosystem.md's model registry, served): the
repository of tests/test_model_registry.py (v1.0.0 logreg in prod, v1.1.0 svm newer, an S3
remote), and what the service loads for the prod tag in another clone: the model that the
tag's ``dvc.lock`` records, from the S3 remote when the clone's cache is empty, and not the
model in the clone's workspace (the team's clone of tests/test_team.py, on another branch)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from serve.model_source import revision_model
from tests.conftest import Repo
from tests.remote_repos import clone
from tests.s3_server import MotoServer
from tests.test_model_registry import ARTIFACT, locked_model_md5, register_two_versions

pytestmark = pytest.mark.integration


def test_serve_rev_of_the_prod_tag_loads_the_model_its_dvc_lock_records(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    repo, origin, versions = register_two_versions(repo_factory, s3_env, tmp_path)
    (v1_md5, _), (v2_md5, _) = versions["v1.0.0"], versions["v1.1.0"]
    shown = repo.run("gto", "show", f"{ARTIFACT}#prod", "--ref").stdout.strip()
    assert shown == f"{ARTIFACT}@v1.0.0"

    # A fresh clone (a server with no DVC cache): the prod model from the S3 remote, checked
    # against its dvc.lock.
    server = clone(origin, tmp_path / "server")
    served = revision_model(shown, root=server.path)
    assert served.info["dvc_lock_md5"] == v1_md5 and served.info["matches_dvc_lock"]
    assert served.info["model"] == "logreg"

    # A teammate's clone with the newer model in its workspace: --rev still serves prod's.
    server.dvc("pull")
    assert locked_model_md5(server) == v2_md5
    served = revision_model(shown, root=server.path)
    assert served.info["matches_dvc_lock"] and served.info["dvc_lock_md5"] == v1_md5
    assert served.info["model"] == "logreg"
