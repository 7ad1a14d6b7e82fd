"""The README's examples run as written, in its order: the bash blocks of "Using the model" and
"Experiments" are read from README.md (so this breaks when the README drifts) and run as one
script in a repository copy after `dvc repro`, as a new user would type them. An optional
part's page runs its examples the same way, with these helpers, from its own tests/.

Left out, each for a reason: `make` lines (the Makefile's install stamp would install into the
shared venv; the commands behind them have their own tests), `source .venv/bin/activate` (the
test's PATH already starts with the venv), and lines starting with `#` (sample output).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Repo, tool_env

pytestmark = pytest.mark.integration

SECTIONS = ("## Using the model: batch predictions", "## Experiments")
SKIPPED = ("make ", "source ")


def bash_blocks(section: str, page: Path = ROOT / "README.md") -> list[str]:
    """The ```bash blocks of one section of ``page`` (the README), in order."""
    text = page.read_text()
    start = text.index(section + "\n")
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```bash\n(.*?)```", text[start : end if end >= 0 else None], re.S)


def readme_commands(sections: tuple[str, ...] = SECTIONS, page: Path = ROOT / "README.md") -> list[str]:
    """The commands of ``sections`` of ``page``, continuation lines joined, as a user runs them."""
    commands: list[str] = []
    for section in sections:
        for block in bash_blocks(section, page):
            for command in block.replace("\\\n", " ").splitlines():
                command = command.strip()
                if command and not command.startswith("#") and not command.startswith(SKIPPED):
                    commands.append(command)
    return commands


def run_script(repo: Repo, commands: list[str]) -> subprocess.CompletedProcess[str]:
    """``commands`` as one bash script in ``repo`` (``set -euo pipefail``; background jobs
    killed at its end); it must exit 0."""
    script = "\n".join(commands)
    prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    done = subprocess.run(
        ["bash", "-c", prologue + script],
        cwd=repo.path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done


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
    assert any("--queue" in c and "train.model=logreg" in c for c in commands)

    run_script(repo, commands)

    # The batch predictions: the keyed file the first command wrote.
    assert (repo.path / "scored.parquet").is_file()

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
