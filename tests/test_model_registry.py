"""The model registry flow of docs/ecosystem.md, with real git, GTO, dvc and the moto S3 server.

A repository with a bare git remote and the committed S3 remote registers two versions of
the ``sentiment-classifier`` artifact (``dvc.yaml``'s ``artifacts:``), assigns ``prod`` to the
first, and ``dvc artifacts get`` fetches each by stage and by version into clean folders,
outside any repository. The fetched folder must be the model that the tagged commit's
``dvc.lock`` records: the same DVC hash and the same bytes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import Repo, tool_env
from tests.remote_repos import add_bare_origin, file_md5s
from tests.s3_server import MotoServer

pytestmark = pytest.mark.integration

ARTIFACT = "sentiment-classifier"
BUCKET = "my-dvc-bucket"
# Each registered version: the model's DVC md5 and its files' md5s.
Versions = dict[str, tuple[str, dict[str, str]]]


def locked_model_md5(repo: Repo) -> str:
    """The ``model`` output's md5 in the workspace's ``dvc.lock`` (a ``.dir`` hash)."""
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    (out,) = [out for out in lock["stages"]["train"]["outs"] if out["path"] == "model"]
    return out["md5"]


def dvc_dir_md5(folder: Path, scratch: Path) -> str:
    """The md5 DVC gives ``folder`` (``dvc add`` in a new repository without git)."""
    scratch.mkdir()
    run = Repo(scratch).run
    run("dvc", "init", "--no-scm", "-q")
    run("cp", "-r", str(folder), "model")
    run("dvc", "add", "-q", "model")
    return yaml.safe_load((scratch / "model.dvc").read_text())["outs"][0]["md5"]


def artifacts_get(origin: Path, dest: Path, *selector: str) -> None:
    """``dvc artifacts get`` from the bare git remote, run in a folder outside any repository."""
    dest.mkdir()
    result = subprocess.run(
        ["dvc", "artifacts", "get", str(origin), ARTIFACT, *selector, "-o", "model"],
        cwd=dest,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def register_two_versions(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> tuple[Repo, Path, Versions]:
    """A repository with a bare git origin and the S3 remote: v1.0.0 (logreg) registered and
    assigned prod, v1.1.0 (svm) registered and newer; each version's model md5 and file md5s."""
    client = s3_env.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    repo = repo_factory()
    declared = yaml.safe_load((repo.path / "dvc.yaml").read_text())["artifacts"][ARTIFACT]
    assert declared["path"] == "model" and declared["type"] == "model"
    assert declared["desc"] and declared["labels"]

    # v1.0.0: the default model (logreg), assigned to prod.
    repo.dvc("repro")
    repo.commit("logreg model")
    origin = tmp_path / "origin.git"
    add_bare_origin(repo, origin)
    repo.dvc("push")
    v1_md5, v1_files = locked_model_md5(repo), file_md5s(repo.path, ("model",))
    repo.run("gto", "register", ARTIFACT, "--version", "v1.0.0", "--push")
    repo.run("gto", "assign", ARTIFACT, "--version", "v1.0.0", "--stage", "prod", "--push")

    # v1.1.0: an SVM, newer but not in prod.
    repo.set_params(train={"model": "svm"})
    repo.dvc("repro")
    repo.commit("svm model")
    repo.run("git", "push", "-q", "origin", "main")
    repo.dvc("push")
    v2_md5, v2_files = locked_model_md5(repo), file_md5s(repo.path, ("model",))
    assert v2_md5 != v1_md5
    repo.run("gto", "register", ARTIFACT, "--version", "v1.1.0", "--push")
    return repo, origin, {"v1.0.0": (v1_md5, v1_files), "v1.1.0": (v2_md5, v2_files)}


def test_register_assign_and_fetch_by_stage_and_version(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    repo, origin, versions = register_two_versions(repo_factory, s3_env, tmp_path)
    (v1_md5, v1_files), (v2_md5, v2_files) = versions["v1.0.0"], versions["v1.1.0"]

    # What the README's serving line resolves: prod's registration tag, a git tag for --rev.
    shown = repo.run("gto", "show", f"{ARTIFACT}#prod", "--ref").stdout.strip()
    assert shown == f"{ARTIFACT}@v1.0.0"
    assert (
        repo.run("git", "rev-parse", f"{shown}^{{commit}}").stdout
        == repo.run("git", "rev-parse", "HEAD~1").stdout
    )
    remote_tags = repo.run("git", "ls-remote", "--tags", "origin").stdout
    assert f"refs/tags/{ARTIFACT}@v1.0.0" in remote_tags
    assert f"refs/tags/{ARTIFACT}#prod#1" in remote_tags

    # Fetch by stage, then by version, each into a clean folder with no cache and no repo.
    for selector, md5, files in (
        (("--stage", "prod"), v1_md5, v1_files),
        (("--rev", "v1.1.0"), v2_md5, v2_files),
    ):
        dest = tmp_path / f"fetched-{selector[1]}"
        artifacts_get(origin, dest, *selector)
        assert dvc_dir_md5(dest / "model", tmp_path / f"hash-{selector[1]}") == md5, selector
        assert file_md5s(dest, ("model",)) == files, selector
