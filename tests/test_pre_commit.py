"""`make install`'s git hooks (.pre-commit-config.yaml): ruff on commit, DVC's hooks, skipping them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, Repo, tool_env
from tests.remote_repos import cached_out_md5s, remote_md5s
from tests.s3_server import MotoServer

pytestmark = pytest.mark.integration

BUCKET = "my-dvc-bucket"
UGLY = "import os\nvalue = {  'a':1 }\n"


def hooked_repo(repo_factory: Callable[..., Repo]) -> Repo:
    """A repository copy with this checkout's .venv linked in and `make install`'s hooks."""
    repo = repo_factory()
    (repo.path / ".venv").symlink_to(ROOT / ".venv")
    with (repo.path / ".git/info/exclude").open("a") as exclude:
        exclude.write(".venv\n")
    # -o: the environment is installed already; only the hook step of `make install` runs.
    installed = repo.run("make", "--no-print-directory", "-o", ".venv/.installed", "install")
    assert installed.stdout.count("pre-commit installed at") == 3, installed.stdout
    for hook in ("pre-commit", "pre-push", "post-checkout"):
        assert "pre_commit" in (repo.path / ".git/hooks" / hook).read_text()
    return repo


def test_commit_hooks_run_ruff_and_dvc_status_and_can_be_skipped(repo_factory: Callable[..., Repo]) -> None:
    repo = hooked_repo(repo_factory)
    (repo.path / "common/ugly.py").write_text(UGLY)
    repo.run("git", "add", "common/ugly.py")
    refused = repo.run("git", "commit", "-q", "-m", "ugly", check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "ruff check" in output and "F401" in output  # the unused import
    assert "DVC pre-commit (dvc status)" in output
    assert repo.run("git", "rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert (repo.path / "common/ugly.py").read_text() == 'import os\n\nvalue = {"a": 1}\n'  # formatted

    # The README's ways around them: one hook by name, or all of them once.
    repo.run("git", "add", "common/ugly.py")
    skipped = subprocess.run(
        ["git", "commit", "-q", "-m", "ruff skipped"],
        cwd=repo.path,
        env={**tool_env(), "SKIP": "ruff-check"},
        capture_output=True,
        text=True,
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    (repo.path / "common/ugly.py").write_text(UGLY)
    repo.run("git", "commit", "-q", "--no-verify", "-am", "no hooks at all")
    assert repo.run("git", "rev-list", "--count", "HEAD").stdout.strip() == "3"


def test_git_push_runs_dvc_push_to_the_s3_remote(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    client = s3_env.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    repo = hooked_repo(repo_factory)
    repo.dvc("repro")
    repo.commit("pipeline run")  # through the pre-commit hooks: the copy is ruff clean
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], check=True)
    repo.run("git", "remote", "add", "origin", str(tmp_path / "origin.git"))
    pushed = repo.run("git", "push", "-q", "origin", "main")
    assert "DVC pre-push (dvc push)" in pushed.stdout + pushed.stderr
    assert cached_out_md5s(repo) <= remote_md5s(client, BUCKET, "sentiment-pipeline/")


def test_post_checkout_of_a_revision_whose_outputs_are_not_pulled_says_dvc_pull_and_succeeds(
    repo_factory: Callable[..., Repo],
) -> None:
    repo = hooked_repo(repo_factory)
    repo.dvc("repro")
    repo.commit("pipeline run")
    repo.run("git", "checkout", "-q", "-b", "svm")
    repo.set_params(train={"model": "svm"})
    repo.dvc("repro")
    repo.commit("svm run")
    # As in a teammate's clone before `dvc pull`: main's outputs are in no cache here.
    subprocess.run(["rm", "-rf", str(repo.path / ".dvc/cache")], check=True)
    switched = repo.run("git", "checkout", "main", check=False)
    output = switched.stdout + switched.stderr
    assert switched.returncode == 0, output
    assert "run `dvc pull`" in output and "ERROR" not in output, output
    assert repo.run("git", "branch", "--show-current").stdout.strip() == "main"


def test_make_hooks_outside_git_or_turned_off_installs_nothing_and_says_so(
    repo_factory: Callable[..., Repo], tmp_path: Path
) -> None:
    venv = ROOT / ".venv"
    make = [
        "make",
        "--no-print-directory",
        "-f",
        str(ROOT / "Makefile"),
        f"VENV={venv}",
        "-o",
        f"{venv}/.installed",
    ]
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    env = {**tool_env(), "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    done = subprocess.run([*make, "hooks"], cwd=outside, env=env, capture_output=True, text=True, check=True)
    assert done.stdout == "make: not a git repository: git hooks not installed\n"

    repo = repo_factory()
    repo.run("git", "config", "pipeline.hooks", "off")
    done = repo.run(*make, "hooks")
    assert "git hooks off" in done.stdout
    assert not (repo.path / ".git/hooks/post-checkout").exists()
