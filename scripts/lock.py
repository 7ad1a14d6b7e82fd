"""Write requirements.lock from pyproject.toml, for every supported Python and platform (``make lock``).

uv's universal resolution (``uv pip compile --universal``) gives one file whose environment
markers pick the right pin on Python 3.11 to 3.13, on Linux, macOS and Windows. torch comes
from PyTorch's CPU index on Linux (``[tool.uv.sources]``), from PyPI elsewhere. That index is
declared here rather than in pyproject.toml so that ``TORCH_INDEX_URL`` can point it at a copy:
uv lets no command-line index replace a declared one and stay explicit.

The lock's header records a hash of what it was made from; ``tests/test_lock.py`` fails when
pyproject.toml's dependencies change and the lock was not made again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
DEFAULT_TORCH_INDEX_URL = "https://download.pytorch.org/whl/cpu"
INPUTS_LINE = "# inputs sha256: "


def lock_inputs(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """A hash of what decides the lock: the dependencies, extras, Python range and sources."""
    config = tomllib.loads(pyproject.read_text())
    project = config["project"]
    inputs = {
        "requires-python": project["requires-python"],
        "dependencies": project["dependencies"],
        "optional-dependencies": project.get("optional-dependencies", {}),
        "sources": config.get("tool", {}).get("uv", {}).get("sources", {}),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_inputs(lock: Path = LOCK) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(INPUTS_LINE):
            return line.removeprefix(INPUTS_LINE).strip()
    return None


def compile_lock(torch_index_url: str, uv: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copy2(ROOT / "README.md", work / "README.md")
        # The current pins are uv's preferences: a new dependency moves no other pin needlessly.
        if LOCK.exists():
            shutil.copy2(LOCK, work / LOCK.name)
        pyproject = (ROOT / "pyproject.toml").read_text()
        index = f'\n[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = {json.dumps(torch_index_url)}\nexplicit = true\n'
        (work / "pyproject.toml").write_text(pyproject + index)
        result = subprocess.run(
            [uv, "pip", "compile", "pyproject.toml", "--universal", "--python-version", "3.11",
             "--all-extras", "--no-annotate", "--no-header", "--quiet", "--output-file", LOCK.name],
            cwd=work, capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            sys.exit(f"make lock: uv could not resolve pyproject.toml:\n{result.stderr.strip()}")
        return (work / LOCK.name).read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-index-url", default=os.environ.get("TORCH_INDEX_URL") or DEFAULT_TORCH_INDEX_URL
    )
    parser.add_argument("--uv", default=shutil.which("uv") or "uv")
    args = parser.parse_args()
    pins = compile_lock(args.torch_index_url, str(Path(shutil.which(args.uv) or args.uv).resolve()))
    header = (
        "# Every package, pinned, for Python 3.11-3.13 on Linux, macOS and Windows: written by\n"
        "# `make lock` (scripts/lock.py, uv's universal resolution) from pyproject.toml; don't edit.\n"
        "# The install uses it as constraints (scripts/install.py), and every stage depends on it\n"
        "# in dvc.yaml, so a bump re-runs them.\n"
        f"{INPUTS_LINE}{lock_inputs()}\n"
    )
    temp = LOCK.with_name(LOCK.name + ".tmp")
    temp.write_text(header + pins)
    temp.replace(LOCK)
    print(f"make lock: wrote {LOCK.name} ({sum(1 for line in pins.splitlines() if '==' in line)} pins)")


if __name__ == "__main__":
    main()
