"""model/manifest.json: every file of a model folder is hash-checked before anything is loaded.

The end-to-end case is the hostile remote: with ``verify = false`` a DVC pull checks out
whatever the bucket holds, and an attacker has replaced ``model.skops`` with a pickle that
creates a file when it is loaded. ``evaluate`` must refuse with one line, and the file must
not exist afterwards: the pickle was never run.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from common.errors import PipelineError
from tests.conftest import Repo, run_module
from tests.conftest import test_env as stage_env
from tests.model_support import malicious_pickle, small_model
from tests.remote_repos import add_bare_origin, clone
from tests.s3_server import MotoServer
from train.model_store import (
    MANIFEST_FILE,
    SKLEARN_FILE,
    dvc_dir_md5,
    load_scorer,
    read_model_files,
)

BUCKET = "my-dvc-bucket"
PREFIX = "sentiment-pipeline/"


def test_the_manifest_lists_every_other_file_and_the_model_loads(tmp_path: Path) -> None:
    small_model(tmp_path / "model")
    files = read_model_files(tmp_path / "model")
    manifest = json.loads(files[MANIFEST_FILE])
    assert sorted(manifest["sha256"]) == ["meta.json", "model.skops"]
    assert manifest["sha256"]["model.skops"] == hashlib.sha256(files["model.skops"]).hexdigest()
    scores, labels = load_scorer(tmp_path / "model", unlocked=True).predict(["good fun", "awful plot"])
    assert labels.tolist() == [1, 0] and scores[0] > 0.5 > scores[1]


def test_the_same_model_gives_the_same_bytes(tmp_path: Path) -> None:
    small_model(tmp_path / "a")
    small_model(tmp_path / "b")
    assert read_model_files(tmp_path / "a") == read_model_files(tmp_path / "b")


def test_a_replaced_pickle_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    model_dir, marker = tmp_path / "model", tmp_path / "pwned"
    small_model(model_dir)
    proof = tmp_path / "the-demonstration-works"
    pickle.loads(malicious_pickle(proof)).close()
    assert proof.exists()
    (model_dir / SKLEARN_FILE).write_bytes(malicious_pickle(marker))
    with pytest.raises(PipelineError, match=r"model\.skops: SHA-256 .* does not match manifest\.json"):
        load_scorer(model_dir, unlocked=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / MANIFEST_FILE).unlink(), r"manifest\.json: not found"),
        (lambda d: (d / MANIFEST_FILE).write_text("{"), r"manifest\.json: not a valid manifest"),
        (lambda d: (d / "extra.py").write_text("x"), r"extra\.py: not listed in manifest\.json"),
        (
            lambda d: (d / "meta.json").write_text('{"kind": "sklearn", "model": "svm"}'),
            r"meta\.json: SHA-256",
        ),
        # Read before its hash was checked, these gave "not valid JSON" and "model.pt: not found".
        (lambda d: (d / "meta.json").write_text("{"), r"meta\.json: SHA-256"),
        (lambda d: (d / "meta.json").write_text('{"kind": "torch"}'), r"meta\.json: SHA-256"),
    ],
)
def test_a_changed_folder_is_refused_naming_the_file(
    tmp_path: Path, change: Callable[[Path], object], message: str
) -> None:
    small_model(tmp_path / "model")
    change(tmp_path / "model")
    with pytest.raises(PipelineError, match=message):
        load_scorer(tmp_path / "model", unlocked=True)


def test_dvc_dir_md5_is_dvcs_own_hash_of_the_folder(tmp_path: Path) -> None:
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    small_model(tmp_path / "model")
    fs = LocalFileSystem()
    _, _, tree = build(HashFileDB(fs, str(tmp_path / "odb")), str(tmp_path / "model"), fs, "md5")
    assert dvc_dir_md5(read_model_files(tmp_path / "model")) == tree.hash_info.value


def replace_remote_object(server: MotoServer, md5: str, data: bytes) -> None:
    key = f"{PREFIX}files/md5/{md5[:2]}/{md5[2:]}"
    client = server.client()
    client.head_object(Bucket=BUCKET, Key=key)  # the object exists: we replace, not add
    client.put_object(Bucket=BUCKET, Key=key, Body=data)


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], stage: str, start: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"{stage}: error: {start}"), lines[0]
    assert "refusing to load" in lines[0]


def predict_in(repo: Repo) -> subprocess.CompletedProcess[str]:
    env = stage_env()
    env["PYTHONPATH"] = str(repo.path)
    command = ["--input", "data/prepared/test.parquet", "--output", "p.parquet", "--key", "PhraseId"]
    return subprocess.run(
        [sys.executable, "-m", "predict", *command], cwd=repo.path, env=env, capture_output=True, text=True
    )


def pushed_repo(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> tuple[Repo, Path, str]:
    """A built repository pushed to a bare git origin and the S3 remote: the repository, the
    origin, and the md5 its dvc.lock records for model/."""
    client = s3_env.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    repo = repo_factory(built=True)
    origin = tmp_path / "origin.git"
    add_bare_origin(repo, origin)
    repo.dvc("push")
    locked = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]["train"]["outs"]
    return repo, origin, next(out["md5"] for out in locked if out["path"] == "model")


def tamper(repo: Repo, s3_env: MotoServer, origin: Path, tmp_path: Path) -> tuple[Repo, Path]:
    """The remote's model.skops replaced by a pickle that creates a marker file when loaded, and
    a coworker's clone that pulls it with ``verify = false``: the clone and the marker's path."""
    marker = tmp_path / "pwned-by-pickle"
    model_pkl_md5 = hashlib.md5((repo.path / "model" / SKLEARN_FILE).read_bytes()).hexdigest()
    replace_remote_object(s3_env, model_pkl_md5, malicious_pickle(marker))
    coworker = clone(origin, tmp_path / "coworker")
    coworker.dvc("remote", "modify", "--local", "storage", "verify", "false")
    coworker.dvc("pull")
    assert (coworker.path / "model" / SKLEARN_FILE).read_bytes() == malicious_pickle(marker)
    return coworker, marker


@pytest.mark.integration
def test_a_tampered_remote_model_is_refused_by_evaluate_and_predict_without_running_it(
    repo_factory: Callable[..., Repo], s3_env: MotoServer, tmp_path: Path
) -> None:
    """(An optional part that loads the model tests it on the same remote, with these helpers.)"""
    repo, origin, _ = pushed_repo(repo_factory, s3_env, tmp_path)
    coworker, marker = tamper(repo, s3_env, origin, tmp_path)
    assert_one_line_refusal(
        run_module("evaluate", coworker.path, args=[]), "evaluate", "model/model.skops: SHA-256"
    )
    assert_one_line_refusal(predict_in(coworker), "predict", "model/model.skops: SHA-256")
    assert not marker.exists()
