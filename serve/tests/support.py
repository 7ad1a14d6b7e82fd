"""A real ``python -m serve`` on 127.0.0.1 for the tests, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.s3_server import HOST, free_port


class ServeProcess:
    def __init__(self, args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log = log
        environment = stage_env()
        environment["PYTHONPATH"] = str(ROOT)
        environment.pop("SERVE_API_TOKEN", None)
        environment.update(env or {})
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "serve", "--port", str(self.port), *args],
                cwd=cwd,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """``(status, parsed JSON body or text)`` of one request on a new connection."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            sent = {"Content-Type": "application/json"} if data is not None else {}
            connection.request(method, path, body=data, headers={**sent, **(headers or {})})
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(content)
        except json.JSONDecodeError:
            return response.status, content.decode(errors="replace")

    def wait_ready(self, timeout: float = 120, headers: dict[str, str] | None = None) -> None:
        """Poll ``/ready`` until it answers 200 (the model is loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if self.request("GET", "/ready", headers=headers)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve not ready within {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def refusal(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m serve`` expected to refuse before serving: its exit status and output."""
    environment = stage_env()
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "serve", "--port", str(free_port()), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
