"""Install the project into .venv: the core, plus the extras asked for (``make install EXTRAS=...``).

Run by the Makefile with the base interpreter (``PYTHON``, default ``python3``), before any
target that needs .venv. Standard library only: it runs before anything is installed.

- Python 3.11, 3.12 or 3.13, else one line naming the versions that work.
- A .venv made by another Python, or one whose interpreter no longer runs, is rebuilt, with a
  line saying so; one left by a failed install is installed again, never silently trusted.
- requirements.lock pins every package for every Python and platform (``make lock``); pip
  installs with it as constraints, so the same versions land everywhere.
- torch (the ``torch`` extra) on Linux comes from ``TORCH_INDEX_URL`` alone, and nothing else
  does: pip cannot pin an index per package, so torch is installed first, by itself, without
  its dependencies; those then come from PyPI with the rest. A wheel that pip's own
  configuration already offers (``find-links``) is taken without asking that host at all.
- A finished install is recorded in ``.venv/.installed.json`` (the lock's hash and the extras),
  so the next ``make`` costs one Python start, not a pip run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORTED = ((3, 11), (3, 12), (3, 13))
EXTRAS = ("torch", "spark", "serve", "test")
DEFAULT_TORCH_INDEX_URL = "https://download.pytorch.org/whl/cpu"
ROOT = Path(__file__).resolve().parent.parent
PIP = ("-m", "pip", "--disable-pip-version-check")


class InstallError(Exception):
    """One line for the user: what could not be installed, from where, and what to do."""


def say(message: str) -> None:
    print(f"make: {message}", file=sys.stderr, flush=True)


def check_python(version: tuple[int, int] = sys.version_info[:2]) -> None:
    if version not in SUPPORTED:
        names = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED)
        raise InstallError(
            f"Python {version[0]}.{version[1]} runs as PYTHON ({sys.executable}); this project needs "
            f"Python {names}: e.g. make repro PYTHON=python3.12"
        )


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_version(venv: Path) -> tuple[int, int] | None:
    """The Python version that made ``venv`` (its pyvenv.cfg), if it still runs."""
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        return None
    match = re.search(r"^version(?:_info)?\s*=\s*(\d+)\.(\d+)", config.read_text(), re.MULTILINE)
    try:
        subprocess.run([venv_python(venv), "-c", ""], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return (int(match.group(1)), int(match.group(2))) if match else None


def ensure_venv(venv: Path) -> bool:
    """Make ``venv`` with this Python, rebuilding one that another Python made; True if new."""
    running = sys.version_info[:2]
    if venv.exists():
        made_by = venv_version(venv)
        if made_by == running:
            return False
        why = f"made by Python {made_by[0]}.{made_by[1]}" if made_by else "broken (its python does not run)"
        say(f"{venv} is {why}, PYTHON is {running[0]}.{running[1]}: rebuilding it")
        shutil.rmtree(venv)
    say(f"creating {venv} with Python {running[0]}.{running[1]} ({sys.executable})")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    return True


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The direct dependencies of the core and of ``extras``, as pyproject.toml declares them."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return wanted


def fingerprint(*files: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def installed_record(venv: Path) -> dict:
    try:
        return json.loads((venv / ".installed.json").read_text())
    except (OSError, ValueError):
        return {}


def run_pip(python: Path, args: list[str], what: str, where: str, hint: str) -> None:
    """pip with its output shown as it goes; on failure, one line naming the package."""
    process = subprocess.Popen(
        [python, *PIP, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(line)
        tail = [*tail[-200:], line]
    if process.wait() != 0:
        output = "".join(tail)
        found = re.search(r"(?:No matching distribution found for|satisfies the requirement) (\S+)", output)
        package = found.group(1) if found else what
        if "conflicting dependencies" in output or "ResolutionImpossible" in output:
            reason = "pip found no set of versions that fits requirements.lock (its reason is above)"
        else:
            reason = "pip's reason is above"
        raise InstallError(f"could not install {package} from {where}: {reason}; {hint}")


def locked_pin(python: Path, lock: Path, name: str) -> str:
    """``name``'s line of the lock for the venv's Python and platform, such as ``torch==2.13.0+cpu``
    (markers evaluated by the packaging library that pip carries: nothing is installed yet)."""
    script = (
        "import sys\nfrom pip._vendor.packaging.requirements import Requirement\n"
        "for line in open(sys.argv[1]):\n"
        "    if line.strip() and not line.startswith('#'):\n"
        "        r = Requirement(line)\n"
        "        if r.name == sys.argv[2] and (r.marker is None or r.marker.evaluate()):\n"
        "            print(f'{r.name}{r.specifier}')\n"
    )
    found = subprocess.run([python, "-c", script, lock, name], capture_output=True, text=True, check=True)
    if not found.stdout.strip():
        raise InstallError(f"{lock.name} pins no {name} for this platform: run make lock")
    return found.stdout.split()[0]


def install_torch(python: Path, lock: Path, index_url: str) -> None:
    """torch alone, without its dependencies: from pip's own configuration when it has the
    pinned wheel, else from ``index_url`` only (PyTorch's CPU index also carries numpy and
    others, which must come from PyPI, pinned)."""
    pin = locked_pin(python, lock, "torch")
    local = subprocess.run(
        [python, *PIP, "install", "--no-deps", "--no-index", pin], capture_output=True, text=True
    )
    if local.returncode == 0:
        say(f"torch: {pin} came from pip's own configuration (find-links), no index asked")
        return
    say(f"torch: installing {pin} from {index_url}")
    run_pip(
        python,
        ["install", "--no-deps", "--index-url", index_url, pin],
        pin,
        index_url,
        "set TORCH_INDEX_URL to a PyTorch CPU index that this machine reaches "
        f"(default {DEFAULT_TORCH_INDEX_URL}), or leave torch out (EXTRAS without torch)",
    )


def install(venv: Path, extras: list[str], index_url: str, root: Path = ROOT) -> None:
    check_python()
    unknown = sorted(set(extras) - set(EXTRAS))
    if unknown:
        raise InstallError(f"unknown extra {', '.join(unknown)} in EXTRAS; the extras are {' '.join(EXTRAS)}")
    lock, pyproject = root / "requirements.lock", root / "pyproject.toml"
    created = ensure_venv(venv)
    record = installed_record(venv)
    pins = fingerprint(pyproject, lock)
    if record.get("pins") == pins and set(extras) <= set(record.get("extras", [])):
        return
    if record:
        say(f"{lock.name} or pyproject.toml changed, or new extras asked for: installing")
    elif not created:
        say(f"{venv} holds no record of a finished install (an earlier one failed?): installing again")
    python = venv_python(venv)
    # Extras installed before stay installed (and get the new pins).
    wanted = sorted(set(extras) | set(record.get("extras", [])))
    if "torch" in wanted and sys.platform.startswith("linux"):
        install_torch(python, lock, index_url)
    run_pip(
        python,
        # No bytecode compiled ahead: 189 MB for modules never imported (Python writes the
        # ones it imports on first use), and 15 s of a cold install.
        ["install", "--no-compile", "-c", str(lock), *requirements(pyproject, wanted)],
        "the project's dependencies",
        "PyPI (pip's configured index)",
        "check the network and pip's index settings, then run make again",
    )
    done = venv / ".installed.json.tmp"
    done.write_text(json.dumps({"pins": pins, "extras": wanted}) + "\n")
    done.replace(venv / ".installed.json")
    say(f"installed the core{''.join(f' +{extra}' for extra in wanted)} into {venv}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--extras", default="", help="space- or comma-separated: " + " ".join(EXTRAS))
    parser.add_argument(
        "--torch-index-url", default=os.environ.get("TORCH_INDEX_URL") or DEFAULT_TORCH_INDEX_URL
    )
    args = parser.parse_args()
    extras = [extra for extra in re.split(r"[\s,]+", args.extras) if extra]
    try:
        install(args.venv, extras, args.torch_index_url)
    except InstallError as error:
        say(str(error))
        sys.exit(1)


if __name__ == "__main__":
    main()
