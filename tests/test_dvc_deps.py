"""Every stage of dvc.yaml declares exactly the code it runs, and the pinned library versions.

A stage's code is its ``python -m`` module and every project module it imports, transitively,
function-level imports included (found by reading the code, not by running it). A file that
is missing re-runs nothing when it changes; a file listed but never read re-runs the stage
for nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

LOCK = "requirements.lock"


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """The project file of module ``name`` (``train.torch_loop``), or None if not ours."""
    parts = name.split(".")
    if not (ROOT / parts[0] / "__init__.py").is_file():
        return None
    for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """Module names ``path`` imports, anywhere in the file; parent packages included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*anchor, base]))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    parents = {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 1)}
    return names | parents


def stage_code(module: str) -> set[str]:
    """Repository-relative paths of the files ``python -m module`` runs."""
    main = module_file(f"{module}.__main__") or module_file(module)
    assert main is not None, f"python -m {module}: no such module in the repository"
    pending = [(main, module)] + [
        (module_file(parent), parent) for parent in (module.split(".")[0], module.rsplit(".", 1)[0])
    ]
    seen: set[Path] = set()
    while pending:
        path, name = pending.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        pending.extend((module_file(n), n) for n in imported_modules(path, package))
    return {str(p.relative_to(ROOT)) for p in seen if not docstring_only(p)}


def docstring_only(path: Path) -> bool:
    """A file that holds a docstring and nothing else (a package's ``__init__.py``) runs no
    code, so it cannot change a stage's outputs: it is not a dependency."""
    body = ast.parse(path.read_text()).body
    return len(body) <= 1 and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def declared_code(deps: list[str]) -> set[str]:
    """The .py files among ``deps``, folders expanded to the .py files in them."""
    files: set[str] = set()
    for dep in deps:
        path = ROOT / dep
        if dep.endswith(".py"):
            files.add(dep)
        elif path.is_dir() and "$" not in dep:
            files.update(str(p.relative_to(ROOT)) for p in path.rglob("*.py"))
    return files


PYTHON_STAGES = {
    name: match.group(1)
    for name, stage in stages().items()
    if (match := re.fullmatch(r"python -m ([\w.]+)", stage["cmd"].strip()))
}


def test_every_stage_is_a_python_module() -> None:
    assert PYTHON_STAGES and set(PYTHON_STAGES) == set(stages())


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_declares_exactly_the_code_it_runs(stage: str) -> None:
    deps = stages()[stage].get("deps", [])
    runs, declared = stage_code(PYTHON_STAGES[stage]), declared_code(deps)
    assert not runs - declared, f"dvc.yaml: stage {stage} misses deps {sorted(runs - declared)}"
    assert not declared - runs, f"dvc.yaml: stage {stage} lists files it never runs {sorted(declared - runs)}"


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_depends_on_the_pinned_versions(stage: str) -> None:
    assert LOCK in stages()[stage].get("deps", []), f"dvc.yaml: stage {stage} must depend on {LOCK}"


def test_the_derivation_follows_function_level_and_package_imports() -> None:
    """Checks the checker: evaluate loads the torch model through a function-level import."""
    evaluate = stage_code("evaluate")
    assert {"evaluate/__main__.py", "evaluate/__init__.py", "train/torch_model.py"} <= evaluate
    assert "common/runtime.py" in evaluate  # through the package's __init__.py
    assert "prepare_data/split.py" not in evaluate
