"""A real S3-compatible server for tests: moto in server mode, on 127.0.0.1 only.

The server runs as a subprocess, so a test can kill it in the middle of a ``dvc push`` and
start it again on the same port. Its state is in memory: a restart starts empty.

``s3_env`` points every AWS SDK in the test (boto3 here, s3fs inside dvc) at the server
with dummy credentials, and removes every setting that could reach real AWS: profiles,
config files, session tokens, the instance metadata service and proxies.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"

# Settings that could make an SDK use real credentials or a non-loopback endpoint.
AWS_VARIABLES_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` bound to 127.0.0.1; ``stop()`` kills it, ``start()`` restarts it.

    With ``require_auth`` the server checks signatures against IAM access keys, so wrong
    credentials are refused; ``start()`` then creates a user with full S3 rights and sets
    ``key_id``/``secret`` to its access key (new ones after every restart).
    """

    def __init__(self, log_path: Path, require_auth: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.require_auth = require_auth
        self.key_id = DUMMY_KEY_ID
        self.secret = DUMMY_SECRET
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        # Not measured by coverage.py: it is not the project's code, and traced it is slower.
        untraced = {*AWS_VARIABLES_TO_CLEAR, "COVERAGE_PROCESS_CONFIG"}
        env = {k: v for k, v in os.environ.items() if k not in untraced}
        if self.require_auth:
            # The first three requests (the IAM bootstrap below) run unauthenticated.
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while not self._accepts_connections():
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server did not listen on {self.url} within {timeout}s")
            time.sleep(0.05)
        if self.require_auth:
            self._create_full_access_key()

    def _accepts_connections(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((HOST, self.port)) == 0

    def _create_full_access_key(self) -> None:
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET,
        )
        iam.create_user(UserName="pipeline")
        iam.put_user_policy(
            UserName="pipeline",
            PolicyName="s3-full-access",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="pipeline")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def client(self, key_id: str | None = None, secret: str | None = None) -> BaseClient:
        """A boto3 S3 client for this server (its own credentials unless others are given)."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret or self.secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def set_env(self, monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
        """Point every AWS SDK run by this test (and its subprocesses) at this server only."""
        for name in AWS_VARIABLES_TO_CLEAR:
            monkeypatch.delenv(name, raising=False)
        no_config = config_dir / "no-aws-config"
        monkeypatch.setenv("AWS_CONFIG_FILE", str(no_config))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_config))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ENDPOINT_URL", self.url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", self.secret)
        # Fail fast once the server is gone instead of backing off through many retries.
        monkeypatch.setenv("AWS_RETRY_MODE", "standard")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("NO_PROXY", HOST)
        monkeypatch.setenv("no_proxy", HOST)


def running_server(
    tmp_path_factory: pytest.TempPathFactory, require_auth: bool = False
) -> Iterator[MotoServer]:
    log_dir = tmp_path_factory.mktemp("moto")
    server = MotoServer(log_dir / "moto.log", require_auth=require_auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the session's tests that do not stop it (no authentication)."""
    yield from running_server(tmp_path_factory)


@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    """The session server, emptied, with this test's environment pointing at it.

    Emptied first: the remote is content-addressed, so a bucket left by an earlier test holds
    the same objects (`dvc push` then pushes nothing) or a tampered one (test_model_integrity).
    """
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    no_proxy.open(urllib.request.Request(f"{moto_server.url}/moto-api/reset", method="POST"), timeout=30)
    moto_server.set_env(monkeypatch, tmp_path)
    return moto_server
