"""``python -m serve --rev``: any commit, branch or experiment's model, checked against that
revision's ``dvc.lock``; a forged model folder in the DVC cache is refused."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from serve.tests.support import ServeProcess, refusal
from tests.conftest import Repo
from tests.model_support import malicious_pickle
from train.model_store import MANIFEST_FILE, SKLEARN_FILE, load_scorer

pytestmark = pytest.mark.integration
TEXTS = ["a wonderful, moving film", "a dull and boring mess"]


def locked_model(lock_text: str) -> str:
    outs = yaml.safe_load(lock_text)["stages"]["train"]["outs"]
    return next(out["md5"] for out in outs if out["path"] == "model")


def served(repo: Repo, rev: str, log: Path) -> tuple[dict, list[dict]]:
    server = ServeProcess(["--rev", rev], repo.path, log)
    try:
        server.wait_ready()
        status, info = server.request("GET", "/model")
        assert status == 200, info
        status, batch = server.request(
            "POST", "/predict/batch", {"instances": [{"key": i, "text": t} for i, t in enumerate(TEXTS)]}
        )
        assert status == 200, batch
    finally:
        assert server.stop() == 0
    return info, batch["predictions"]


def replace_in_cache(repo: Repo, md5: str, data: bytes) -> None:
    path = repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert path.is_file()
    temp = path.with_name(path.name + ".forged")
    temp.write_bytes(data)
    os.replace(temp, path)  # a new file: the workspace's copy (or link) is left alone


def test_serve_an_experiment_and_a_branch_and_refuse_a_forged_cache(
    repo_factory: Callable[..., Repo], tmp_path: Path
) -> None:
    repo = repo_factory(built=True)
    main_sha = repo.run("git", "rev-parse", "HEAD").stdout.strip()
    main_lock = (repo.path / "dvc.lock").read_text()
    main_listing = json.loads(
        (
            repo.path / ".dvc/cache/files/md5" / locked_model(main_lock)[:2] / locked_model(main_lock)[2:]
        ).read_text()
    )
    repo.dvc("exp", "run", "-n", "svm-exp", "-S", "train.model=svm")
    exp_lock = (repo.path / "dvc.lock").read_text()  # exp run leaves the experiment in the workspace
    exp_scores, exp_labels = load_scorer(repo.path / "model", unlocked=True).predict(TEXTS)
    repo.run("git", "checkout", "-q", "--", "params.yaml", "dvc.lock", "metrics")
    repo.dvc("checkout", "--force")

    info, predictions = served(repo, "svm-exp", tmp_path / "exp.log")
    assert info["model"] == "svm" and info["params"]["svm"] == {"C": 1.0}
    assert info["md5"] == locked_model(exp_lock) and info["matches_dvc_lock"]
    assert info["git_revision"] not in (None, main_sha) and len(info["git_revision"]) == 40
    assert set(info["metrics"]) >= {"accuracy", "f1", "roc_auc"}
    assert [p["label"] for p in predictions] == exp_labels.tolist()
    assert [p["score"] for p in predictions] == pytest.approx(exp_scores.tolist())

    info, _ = served(repo, "main", tmp_path / "main.log")
    assert info["model"] == "logreg" and info["md5"] == locked_model(main_lock)
    assert info["git_revision"] == main_sha

    # A forger replaces model.skops in the cache and rewrites the manifest to match it: the
    # folder passes its own manifest, but not the dvc.lock committed in git.
    marker = tmp_path / "pwned"
    by_name = {entry["relpath"]: entry["md5"] for entry in main_listing}
    forged_pickle = malicious_pickle(marker)
    manifest = json.loads((repo.path / "model" / MANIFEST_FILE).read_text())
    manifest["sha256"][SKLEARN_FILE] = hashlib.sha256(forged_pickle).hexdigest()
    replace_in_cache(repo, by_name[SKLEARN_FILE], forged_pickle)
    replace_in_cache(repo, by_name[MANIFEST_FILE], json.dumps(manifest).encode())
    result = refusal(["--rev", "main"], repo.path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("serve: error: main:model: DVC hash "), lines
    assert f"does not match main:dvc.lock ({locked_model(main_lock)})" in result.stderr
    assert not marker.exists()

    result = refusal(["--rev", "no-such-branch"], repo.path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "serve: error: --rev no-such-branch: no such commit, branch, tag or experiment"
    )
