"""requirements.lock agrees with pyproject.toml, and pyproject.toml declares what the code imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.lock import lock_inputs, recorded_inputs
from tests.conftest import ROOT, repo_files

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The project's own top-level packages (the optional parts' folders included) and folders of scripts.
LOCAL = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()} | {
    "tests",
    "scripts",
    "plots",
    "benchmarks",
}
# The peers of benchmarks/prepare_data.py (its OPTIONAL_LEGS): skipped when absent, not dependencies.
BENCHMARK_PEERS = {"polars", "duckdb"}


def declared() -> list[Requirement]:
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"].values()
    return [Requirement(line) for line in [*project["dependencies"], *(r for extra in extras for r in extra)]]


def lock_pins() -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            pins.setdefault(canonicalize_name(requirement.name), set()).update(
                spec.version for spec in requirement.specifier
            )
    return pins


def test_the_lock_was_made_from_this_pyproject() -> None:
    assert recorded_inputs() == lock_inputs(), "pyproject.toml's dependencies changed: run make lock"


def test_every_direct_pin_is_the_locked_version() -> None:
    pins = lock_pins()
    for requirement in declared():
        (spec,) = requirement.specifier
        locked = {version.split("+")[0] for version in pins.get(canonicalize_name(requirement.name), set())}
        assert spec.operator == "==" and spec.version in locked, f"{requirement}: the lock has {locked}"


def imported_modules(path: Path) -> set[str]:
    """Top-level modules imported by a file, except those inside a ``try`` (optional ones)."""
    tree = ast.parse(path.read_text(), str(path))
    optional = {id(node) for t in ast.walk(tree) if isinstance(t, ast.Try) for node in ast.walk(t)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_imported_package_is_declared() -> None:
    names = {requirement.name.lower().replace("_", "-") for requirement in declared()}
    distributions = metadata.packages_distributions()
    undeclared = set()
    for file in repo_files():
        if not file.endswith(".py"):
            continue
        for module in imported_modules(ROOT / file) - LOCAL - BENCHMARK_PEERS - set(sys.stdlib_module_names):
            owners = {name.lower().replace("_", "-") for name in distributions.get(module, [module])}
            if not owners & names:
                undeclared.add(f"{module} ({file})")
    assert not undeclared, f"imported but not in pyproject.toml: {sorted(undeclared)}"
