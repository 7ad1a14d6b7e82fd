"""Comparing experiments as a team: two clones of a bare git origin, an S3 remote on moto.

Alice runs the baseline and two experiments and shares them with ``dvc exp push``. Bob, in his
own clone, pulls one with ``dvc exp pull``, sees both in ``make experiments`` at 120 columns,
promotes it with ``make promote`` and pushes the branch. The pull request's report, made in a
third fresh clone as the workflow does (``git fetch`` of ``refs/exps``, ``make compare``,
``scripts/pr_report.py render``), names the base ``main`` and lists the experiments. The
baseline's model is registered and put in ``prod`` with GTO, and Bob's clone resolves ``prod`` to
that registration's tag (what the model service loads for it: the part's own tests).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Repo, performance
from tests.remote_repos import add_bare_origin, clone
from tests.s3_server import MotoServer
from tests.test_experiments import make

pytestmark = pytest.mark.integration

BUCKET = "my-dvc-bucket"
ARTIFACT = "sentiment-classifier"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_two_clones_share_compare_promote_and_report_experiments(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    client = s3_env.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)

    # Alice: the baseline on main, pushed to git and S3; two experiments, shared.
    alice = repo_factory(built=True)
    origin = tmp_path / "origin.git"
    add_bare_origin(alice, origin)
    alice.dvc("push")
    alice.dvc("exp", "run", "-n", "svm", "-S", "train.model=svm")
    alice.run("git", "checkout", "-q", "params.yaml")
    alice.dvc("exp", "run", "-n", "nb", "-S", "train.model=nb")
    alice.dvc("exp", "push", "origin", "svm", "nb")
    shared = alice.experiments()
    svm_scores = performance(shared["svm"])

    # GTO: the baseline's model registered and assigned prod (git tags, pushed).
    alice.run("gto", "register", ARTIFACT, "main", "--version", "v1.0.0", "--push")
    alice.run("gto", "assign", ARTIFACT, "--version", "v1.0.0", "--stage", "prod", "--push")

    # Bob: a fresh clone has no experiments until it pulls them.
    bob = clone(origin, tmp_path / "bob")
    assert "svm" not in bob.experiments()
    bob.dvc("exp", "pull", "origin", "svm")
    bob.run("git", "fetch", "-q", "origin", "+refs/exps/*:refs/exps/*")  # nb's params and metrics
    found = bob.experiments()
    assert performance(found["svm"]) == svm_scores
    assert performance(found["nb"]) == performance(shared["nb"])
    table = make(bob, "experiments", columns=120).stdout
    assert max(len(line) for line in table.splitlines()) <= 120, table
    svm_row = next(line for line in table.splitlines() if "[svm]" in line)
    assert " svm " in svm_row and f"{svm_scores['accuracy']:.5g}" in svm_row
    assert " nb " in next(line for line in table.splitlines() if "[nb]" in line)

    # Bob promotes svm (its outputs came with exp pull) and opens the pull request.
    bob.dvc("exp", "apply", "svm")
    make(bob, "promote", EXP="svm", BRANCH="svm-model")
    assert bob.run("git", "status", "--porcelain").stdout == ""
    assert "Data and pipelines are up to date" in bob.dvc("status").stdout
    bob.dvc("push")
    bob.run("git", "push", "-q", "-u", "origin", "svm-model")

    # The workflow's checkout of the pull request: a third clone.
    ci = clone(origin, tmp_path / "ci")
    ci.run("git", "checkout", "-q", "svm-model")
    ci.run("git", "fetch", "-q", "origin", "+refs/exps/*:refs/exps/*")
    ci.dvc("pull")
    compare = make(ci, "compare", BASE="origin/main", HEAD_REV="HEAD").stdout
    (tmp_path / "compare.md").write_text(compare)
    out = tmp_path / "report"
    ci.run(
        sys.executable,
        "scripts/pr_report.py",
        "render",
        "--base",
        "origin/main",
        "--compare",
        str(tmp_path / "compare.md"),
        "--out",
        str(out),
        "--image-url",
        "https://github.com/o/r/raw/pr-reports/pr-1/abc",
    )
    body = (out / "report.md").read_text()
    (tmp_path / "report.md").write_text(body)
    lines = [" ".join(line.split()) for line in body.splitlines()]
    assert "### Params (main vs workspace)" in body
    assert "| params.yaml | train.model | logreg | svm |" in lines
    # The base row is named by the branch, not by the GTO tags on its commit.
    assert any(line.startswith("| main | logreg |") for line in lines), body
    assert "sentiment-classifier@" not in body and "#prod#" not in body
    assert "origin/main" not in body  # dvc's column headers too: `main`, the branch it targets
    assert "| Path | Param | main | workspace |" in lines
    assert any(line.startswith("| main / svm | svm |") for line in lines)
    assert any(line.startswith("| main / nb | nb |") for line in lines)
    assert "2 experiment(s) found in `refs/exps`" in body
    header = next(line for line in lines if line.startswith("| Experiment"))
    assert header == "| Experiment | train.model | accuracy | f1 | roc_auc |"
    assert {"confusion", "roc", "precision_recall"} <= {path.stem for path in out.glob("*.png")}
    for image in out.glob("*.png"):
        width, height = png_size(image.read_bytes())
        assert width > 300 and height > 200, image.name
    assert "![confusion](https://github.com/o/r/raw/pr-reports/pr-1/abc/confusion.png)" in body

    # The prod tag, in Bob's clone: the registration's git tag, what `--rev` takes.
    bob.run("git", "fetch", "-q", "--tags", "origin")
    tag = bob.run("gto", "show", f"{ARTIFACT}#prod", "--ref").stdout.strip()
    assert tag == f"{ARTIFACT}@v1.0.0"  # the version in prod
