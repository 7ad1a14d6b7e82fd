"""``data.source: s3://bucket/key`` against a real S3 server (moto, loopback only).

get_data downloads the object; dvc.yaml declares the same URL (``data.source_dep``) as the
stage's dependency, so DVC checks its ETag and re-runs the stage when the object changes.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber

from common import s3_source
from common.errors import PipelineError
from prepare_data.synthetic import generate_reviews, to_tsv
from tests import conftest
from tests.conftest import ROOT, Repo
from tests.remote_repos import STAGES, ran_stages
from tests.s3_server import MotoServer, free_port

pytestmark = pytest.mark.integration


def reviews_tsv(rows: int, seed: int) -> bytes:
    return to_tsv(generate_reviews(rows, seed))


def test_repro_fetches_the_object_and_reruns_when_it_changes(
    repo_factory: Callable[..., Repo], s3_env: MotoServer
) -> None:
    s3 = s3_env.client()
    s3.create_bucket(Bucket="source-data")
    url = "s3://source-data/reviews/reviews.tsv"
    first, second = reviews_tsv(1500, seed=1), reviews_tsv(1500, seed=2)
    s3.put_object(Bucket="source-data", Key="reviews/reviews.tsv", Body=first)

    repo = repo_factory()
    # The README's command: dvc.yaml's `${data.source_dep}` dependency follows `-S`.
    ran = repo.dvc("exp", "run", "-S", f"data.source={url}", "-S", f"data.source_dep={url}")
    assert ran_stages(ran.stdout) == list(STAGES)
    assert repo.params()["data"]["source"] == url
    assert (repo.path / "data/raw/reviews.tsv").read_bytes() == first
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    s3_deps = [d for d in lock["stages"]["get_data"]["deps"] if d["path"] == url]
    assert len(s3_deps) == 1 and s3_deps[0]["etag"]
    assert repo.dvc("status").stdout.strip() == "Data and pipelines are up to date."
    assert ran_stages(repo.dvc("repro").stdout) == []

    s3.put_object(Bucket="source-data", Key="reviews/reviews.tsv", Body=second)
    status = repo.dvc("status").stdout
    assert "get_data" in status and url in status and "modified" in status
    assert ran_stages(repo.dvc("repro").stdout) == list(STAGES)
    assert (repo.path / "data/raw/reviews.tsv").read_bytes() == second
    assert repo.dvc("status").stdout.strip() == "Data and pipelines are up to date."


def run_get_data(
    workdir: Path, source: str, source_dep: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m prepare_data.get`` on this checkout's code, in ``workdir``."""
    params = {"data": {"source": source, "source_dep": source_dep or source}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = conftest.test_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "prepare_data.get"], cwd=workdir, env=env, capture_output=True, text=True
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("get_data: error: "), result.stderr
    for text in expected:
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr


def test_get_data_errors_name_the_url_and_write_nothing(
    s3_env: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = s3_env.client()
    s3.create_bucket(Bucket="bad-inputs")
    s3.put_object(Bucket="bad-inputs", Key="empty.tsv", Body=b"")
    s3.put_object(Bucket="bad-inputs", Key="ok.tsv", Body=reviews_tsv(50, seed=3))

    cases = {
        "s3://no-such-bucket/reviews.tsv": ["s3://no-such-bucket/reviews.tsv", "bucket 'no-such-bucket'"],
        "s3://bad-inputs/missing.tsv": ["s3://bad-inputs/missing.tsv", "no such object"],
        "s3://bad-inputs/empty.tsv": ["s3://bad-inputs/empty.tsv", "empty"],
        "s3://bad-inputs/": ["data.source", "s3://bad-inputs/"],
    }
    for url, expected in cases.items():
        result = run_get_data(tmp_path, url)
        assert_one_error_line(result, *expected)
        assert not (tmp_path / "data/raw").exists(), url

    result = run_get_data(tmp_path, "s3://bad-inputs/ok.tsv", source_dep="data/external")
    assert_one_error_line(result, "data.source_dep", "s3://bad-inputs/ok.tsv")

    with monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
        result = run_get_data(tmp_path, "s3://bad-inputs/ok.tsv")
    assert_one_error_line(result, "s3://bad-inputs/ok.tsv", "Could not connect")
    assert not (tmp_path / "data/raw").exists()

    assert run_get_data(tmp_path, "s3://bad-inputs/ok.tsv").returncode == 0
    assert (tmp_path / "data/raw/reviews.tsv").read_bytes() == reviews_tsv(50, seed=3)


@pytest.mark.parametrize(
    ("body", "content_length", "etag", "expected"),
    [
        (b"PhraseId\tPhrase\n1\tgood", 40, None, "download from http://s3.test failed"),  # cut short
        (
            b"PhraseId\tPhrase\n1\tgood",
            None,
            hashlib.md5(b"other").hexdigest(),
            "do not match the object's ETag",
        ),
    ],
)
def test_a_cut_short_or_altered_download_is_never_accepted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    content_length: int | None,
    etag: str | None,
    expected: str,
) -> None:
    # botocore's own Stubber: a server that sends fewer bytes than it announced, or bytes that
    # are not the ones its ETag names, which a healthy moto server never does.
    client = boto3.client(
        "s3",
        endpoint_url="http://s3.test",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    response = {
        "Body": StreamingBody(io.BytesIO(body), content_length or len(body)),
        "ContentLength": content_length or len(body),
        "ETag": f'"{etag or hashlib.md5(body).hexdigest()}"',
    }
    with Stubber(client) as stubber:
        stubber.add_response("get_object", response, {"Bucket": "bucket", "Key": "reviews.tsv"})
        monkeypatch.setattr(s3_source, "s3_client", lambda: client)
        dest = tmp_path / "reviews.tsv"
        with pytest.raises(PipelineError) as raised:
            s3_source.download("s3://bucket/reviews.tsv", dest)
    message = str(raised.value)
    assert message.startswith("s3://bucket/reviews.tsv: ") and expected in message, message
    assert "\n" not in message
