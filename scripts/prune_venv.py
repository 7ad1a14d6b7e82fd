"""Uninstall from a venv the named distributions and every distribution that only they require.

``python -m scripts.prune_venv --venv /opt/venv dvc dvclive ...``, run by the venv's own
Python: the Dockerfile's ``serve-venv`` stage drops what ``python -m serve`` never imports (DVC
with its S3 and git stack, pre-commit...) from the venv that ``make install`` made.

What stays is the closure of everything else: the requirements that ``make install`` asked for
(pyproject.toml's core and the extras recorded in the venv's ``.installed.json``) other than the
named ones, with their extras, plus every installed distribution that the named ones do not
require, and recursively what these require (markers evaluated here, extras followed). What
goes is what the named ones require and nothing that stays does; no transitive package is named
by hand. A named distribution that something staying requires is an error: the list is wrong.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from scripts.install import installed_record, requirements

ROOT = Path(__file__).resolve().parent.parent


class PruneError(Exception):
    """One line: why the named distributions cannot be removed as asked."""


def required(
    requires: Mapping[NormalizedName, list[str]], roots: Iterable[Requirement]
) -> dict[NormalizedName, NormalizedName | None]:
    """Every installed distribution that ``roots`` require, directly or not, with the
    distribution that first brought each in (None for a root itself)."""
    found: dict[NormalizedName, NormalizedName | None] = {}
    pending: list[tuple[Requirement, NormalizedName | None]] = [(root, None) for root in roots]
    seen_extras: dict[NormalizedName, set[str]] = {}
    while pending:
        requirement, parent = pending.pop()
        name = canonicalize_name(requirement.name)
        if name not in requires:  # not installed (another platform's, or an extra not asked for)
            continue
        extras = seen_extras.setdefault(name, set())
        if name in found and requirement.extras <= extras:
            continue
        found.setdefault(name, parent)
        extras |= requirement.extras
        for line in requires[name]:
            child = Requirement(line)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in sorted(extras) or [""]
            ):
                pending.append((child, name))
    return found


def removable(
    requires: Mapping[NormalizedName, list[str]], asked: Iterable[str], names: Iterable[str]
) -> list[NormalizedName]:
    """What uninstalling ``names`` (and what only they require) removes; ``requires`` maps each
    installed distribution to its requirement lines, ``asked`` is what the install asked for."""
    named = {canonicalize_name(name) for name in names}
    missing = sorted(named - set(requires))
    if missing:
        raise PruneError(f"not installed: {', '.join(missing)}")
    asked_requirements = [Requirement(line) for line in asked]
    roots = [r for r in asked_requirements if canonicalize_name(r.name) in named]
    roots += [Requirement(name) for name in named - {canonicalize_name(r.name) for r in roots}]
    candidates = required(requires, roots)
    kept = [r for r in asked_requirements if canonicalize_name(r.name) not in named]
    kept += [Requirement(name) for name in requires if name not in candidates]
    staying = required(requires, kept)
    needed = sorted(named & set(staying))
    if needed:
        why = ", ".join(f"{name} (by {staying[name]})" for name in needed)
        raise PruneError(f"still required by what stays: {why}")
    return sorted(set(candidates) - set(staying))


def installed() -> dict[NormalizedName, list[str]]:
    """This Python's distributions and their requirement lines."""
    return {
        canonicalize_name(dist.metadata["Name"]): list(dist.requires or [])
        for dist in metadata.distributions()
    }


def size_mb(names: Iterable[str]) -> float:
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            total += file.size or 0
    return total / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="distributions to uninstall, with what only they require")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix), help="its .installed.json: the extras")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--dry-run", action="store_true", help="print what would go, uninstall nothing")
    args = parser.parse_args(argv)
    if Path(sys.prefix).resolve() != args.venv.resolve():
        sys.exit(f"prune_venv: error: run it with {args.venv}'s own python (this is {sys.prefix})")
    extras = installed_record(args.venv).get("extras", [])
    try:
        names = removable(installed(), requirements(args.pyproject, extras), args.names)
    except PruneError as error:
        sys.exit(f"prune_venv: error: {error}")
    print(
        f"prune_venv: {'would remove' if args.dry_run else 'removing'} {len(names)} distributions "
        f"({size_mb(names):.0f} MB): {' '.join(names)}",
        flush=True,
    )
    if not args.dry_run:
        uninstall = [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *names]
        subprocess.run(uninstall, check=True)


if __name__ == "__main__":
    main()
