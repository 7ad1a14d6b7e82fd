"""Credentials written into URLs never reach a log line, an error line or a file.

``AWS_ENDPOINT_URL=http://KEY:SECRET@host`` has its user name and password stripped wherever
the endpoint is shown; an ``s3://KEY:SECRET@bucket/key`` source is refused without echoing
them. Each case runs get_data against a moto server on the loopback address."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.errors import redact_record, redact_urls, shorten
from prepare_data.synthetic import generate_reviews, to_tsv
from tests.s3_server import MotoServer
from tests.test_s3_source import run_get_data

pytestmark = pytest.mark.integration

KEY, SECRET = "AKIDLEAKYKEY", "leaky/Secret+Value"
BUCKET = "secret-tests"


def assert_no_secret(result_text: str, folder: Path) -> None:
    assert SECRET not in result_text and KEY not in result_text, result_text
    for path in folder.rglob("*"):
        if path.is_file() and path.name != "params.yaml":
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.fixture
def endpoint_with_credentials(s3_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    s3 = s3_env.client()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="reviews.tsv", Body=to_tsv(generate_reviews(300, 1)))
    host = s3_env.url.split("://", 1)[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{KEY}:{SECRET.replace('/', '%2F')}@{host}")
    return s3_env


def test_a_successful_fetch_logs_the_endpoint_without_its_credentials(
    endpoint_with_credentials: MotoServer, tmp_path: Path
) -> None:
    result = run_get_data(tmp_path, f"s3://{BUCKET}/reviews.tsv")
    assert result.returncode == 0, result.stderr
    assert "downloaded s3://secret-tests/reviews.tsv" in result.stderr
    assert "http://***@127.0.0.1" in result.stderr
    assert_no_secret(result.stdout + result.stderr, tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"s3://{BUCKET}/absent.tsv", "no such object at http://***@127.0.0.1"),
        ("s3://no-such-bucket/reviews.tsv", "does not exist at http://***@127.0.0.1"),
    ],
)
def test_error_lines_show_the_endpoint_without_its_credentials(
    endpoint_with_credentials: MotoServer, tmp_path: Path, url: str, expected: str
) -> None:
    result = run_get_data(tmp_path, url)
    assert result.returncode == 2
    assert expected in result.stderr.strip().splitlines()[-1]
    assert_no_secret(result.stdout + result.stderr, tmp_path)


def test_an_unreachable_endpoint_with_credentials_is_one_line_without_them(
    s3_env: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{KEY}:{SECRET.replace('/', '%2F')}@127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = run_get_data(tmp_path, f"s3://{BUCKET}/reviews.tsv")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and "download from http://***@127.0.0.1:9 failed" in lines[-1]
    assert_no_secret(result.stdout + result.stderr, tmp_path)


def test_credentials_in_an_s3_url_are_refused_without_echoing_them(
    s3_env: MotoServer, tmp_path: Path
) -> None:
    url = f"s3://{KEY}:{SECRET}@{BUCKET}/reviews.tsv"
    result = run_get_data(tmp_path, url)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("get_data: error: params.yaml: data.source: holds a URL with a user name and password")
    )
    assert_no_secret(result.stdout + result.stderr, tmp_path)
    assert not (tmp_path / "data/raw").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from http://KEY:SECRET@host:9000/b", "from http://***@host:9000/b"),
        ("'s3://k:s/ecret@bucket/key' and https://u@h", "'s3://***@bucket/key' and https://***@h"),
        ("no url here, user@example.com", "no url here, user@example.com"),
        # pathlib's `https:/` (one slash) and a password with a `/`, as AWS secret keys have.
        (
            "data/https:/AKIA:wJal/K7MD@host/r.csv: file not found",
            "data/https:/***@host/r.csv: file not found",
        ),
        ("x.csv?client_secret=hunter2&api_key=abc123", "x.csv?client_secret=***&api_key=***"),
        ("at 10:30, mail bob@example.com", "at 10:30, mail bob@example.com"),
    ],
)
def test_redact_urls(text: str, expected: str) -> None:
    assert redact_urls(text) == expected
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", (text,), None)
    assert redact_record(record) and record.getMessage() == f"got {expected}"


def test_a_huge_line_is_redacted_and_cut_in_one_pass() -> None:
    # 78,000 characters with no space took 17 s to redact (a backtracking pattern): a stage
    # printing the columns of a wide export hung that long, and printed them all.
    columns = ";".join(f"column_{i:05d}" for i in range(6000))
    line = shorten(redact_urls(f"columns: {columns}, and https:/u:p/w@host"))
    assert len(line) < 1100 and line.endswith("more characters)")
    assert redact_urls("a:" * 100_000 + "b@c").endswith("***@c")


def test_control_characters_in_an_error_are_escaped_onto_one_line() -> None:
    """A path, column or key may hold a newline, ESC or a right-to-left mark: the error line
    shows them escaped, never splits or rewrites the terminal."""
    line = shorten("column 'Phrase' is not in data/external/\x1b[31mx\n.csv (its columns: \x1b[2JB, \u202eA)")
    assert (
        line == "column 'Phrase' is not in data/external/\\x1b[31mx\\n.csv (its columns: \\x1b[2JB, \\u202eA)"
    )
    assert line.isprintable() and shorten("plain text, ünïcode") == "plain text, ünïcode"
