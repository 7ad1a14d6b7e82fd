"""serve/README.md's quick start runs as written (tests/test_readme.py's way, with its
helpers): its bash block is read from the page and run as one script in a repository copy after
`dvc repro`. The `make install` line is left out (it would install into the shared venv), and
the service's port 8000 becomes a free one, so that parallel test runs do not collide."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, Repo
from tests.s3_server import free_port
from tests.test_readme import readme_commands, run_script

pytestmark = pytest.mark.integration

PAGE = ROOT / "serve" / "README.md"


def json_objects(text: str) -> list[dict]:
    """The JSON objects in ``text``, in order (curl prints each answer without a newline)."""
    decoder = json.JSONDecoder()
    found, index = [], text.find("{")
    while index >= 0:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        found.append(value)
        index = text.find("{", end)
    return found


def test_the_quick_start_runs_as_written(built_repo: Repo) -> None:
    commands = readme_commands(("## Quick start",), PAGE)
    # What the page shows, so that a changed page changes this test's subject knowingly.
    assert commands[0].startswith("python -m serve &")
    assert commands[-1].startswith("kill %1")

    port = free_port()
    done = run_script(
        built_repo,
        [
            command.replace("localhost:8000", f"localhost:{port}").replace(
                "python -m serve &", f"python -m serve --port {port} &"
            )
            for command in commands
        ],
    )
    # The service answered every curl after /ready, the first one included (no 503).
    answers = json_objects(done.stdout)
    assert answers[0]["status"] == "ready"
    assert answers[1]["prediction"] == "positive"
    batch = {p["key"]: p["prediction"] for p in answers[2]["predictions"]}
    assert batch == {17: "positive", "r-2": "negative"}
    assert "kind" in answers[3]
