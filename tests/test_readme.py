"""The README's examples run as written, in its order: the bash blocks of "Using the model" and
"Experiments" are read from README.md (so this breaks when the README drifts) and run as one
script in a repository copy after `dvc repro`, as a new user would type them.

Left out, each for a reason: `make` lines (the Makefile's install stamp would install into the
shared venv; the commands behind them have their own tests), `source .venv/bin/activate` (the
test's PATH already starts with the venv), and lines starting with `#` (sample output). The
service's port 8000 becomes a free one, so that parallel test runs do not collide.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest

from tests.conftest import ROOT, Repo
from tests.conftest import test_env as stage_env

pytestmark = pytest.mark.integration

SECTIONS = ("## Using the model: batch predictions and the service", "## Experiments")
SKIPPED = ("make ", "source ")


def bash_blocks(section: str) -> list[str]:
    """The ```bash blocks of one README section, in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index(section + "\n")
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```bash\n(.*?)```", text[start : end if end >= 0 else None], re.S)


def readme_commands() -> list[str]:
    """The commands of SECTIONS, continuation lines joined, as a user runs them."""
    commands: list[str] = []
    for section in SECTIONS:
        for block in bash_blocks(section):
            for command in block.replace("\\\n", " ").splitlines():
                command = command.strip()
                if command and not command.startswith("#") and not command.startswith(SKIPPED):
                    commands.append(command)
    return commands


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_the_queue(repo: Repo, limit_s: float = 600) -> None:
    """Poll `dvc queue status` until no experiment is queued or running."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = repo.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return
        time.sleep(1)
    raise AssertionError(f"the queue did not finish:\n{status}")


def test_the_readme_examples_run_as_written_in_order(built_repo: Repo) -> None:
    repo = built_repo  # after `dvc repro`, committed
    commands = readme_commands()
    # What the README shows, so that a changed README changes this test's subject knowingly.
    assert commands[0].startswith("python -m predict --input data/raw/reviews.tsv")
    assert any(c.startswith("python -m serve &") for c in commands)
    assert any("--queue" in c and "train.model=logreg" in c for c in commands)

    port = free_port()
    script = "\n".join(
        command.replace("localhost:8000", f"localhost:{port}").replace(
            "python -m serve &", f"python -m serve --port {port} &"
        )
        for command in commands
    )
    prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    done = subprocess.run(
        ["bash", "-c", prologue + script],
        cwd=repo.path,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"

    # The batch predictions: the keyed file the first command wrote.
    assert (repo.path / "scored.parquet").is_file()
    # The service answered every curl after /ready, the first one included (no 503).
    answers = json_objects(done.stdout)
    assert answers[0]["status"] == "ready"
    assert answers[1]["prediction"] == "positive"
    batch = {p["key"]: p["prediction"] for p in answers[2]["predictions"]}
    assert batch == {17: "positive", "r-2": "negative"}
    assert "kind" in answers[3]

    # The queued grid trains logreg, whatever the svm experiment left in the workspace.
    wait_for_the_queue(repo)
    grid = {
        name: data["params"]["params.yaml"]["data"]["train"]
        for name, data in repo.experiments().items()
        if name not in ("main", "svm")
    }
    assert len(grid) == 3, grid
    assert {train["model"] for train in grid.values()} == {"logreg"}
    assert sorted(train["logreg"]["C"] for train in grid.values()) == [0.1, 1, 10]
