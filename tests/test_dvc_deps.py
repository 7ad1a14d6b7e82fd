"""Every stage of dvc.yaml declares exactly the code it runs, and the pinned library versions.

dvc.yaml's code deps are written by ``make schema`` from the imports (scripts/stage_deps.py):
these tests fail when it is stale, naming the files, and check the derivation itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.stage_deps import (
    derived_dvc_yaml,
    imported_modules,
    python_stages,
    stage_code,
    with_derived_deps,
)
from tests.conftest import ROOT

LOCK = "requirements.lock"


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


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


PYTHON_STAGES = python_stages((ROOT / "dvc.yaml").read_text())


def test_every_stage_is_a_python_module() -> None:
    assert PYTHON_STAGES and set(PYTHON_STAGES) == set(stages())


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_declares_exactly_the_code_it_runs(stage: str) -> None:
    deps = stages()[stage].get("deps", [])
    runs, declared = stage_code(PYTHON_STAGES[stage]), declared_code(deps)
    assert not runs - declared, (
        f"dvc.yaml: stage {stage} misses deps {sorted(runs - declared)} (run make schema)"
    )
    assert not declared - runs, (
        f"dvc.yaml: stage {stage} lists files it never runs {sorted(declared - runs)} (run make schema)"
    )


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_depends_on_the_pinned_versions(stage: str) -> None:
    assert LOCK in stages()[stage].get("deps", []), f"dvc.yaml: stage {stage} must depend on {LOCK}"


def test_the_derivation_follows_function_level_and_package_imports() -> None:
    """Checks the checker: evaluate loads a model through train's model store, which imports
    the scikit-learn loader inside a function."""
    evaluate = stage_code("evaluate")
    assert {"evaluate/__main__.py", "evaluate/__init__.py", "train/sklearn_models.py"} <= evaluate
    assert "common/runtime.py" in evaluate  # through the package's __init__.py
    assert "prepare_data/split.py" not in evaluate


def test_dvc_yaml_is_as_make_schema_writes_it() -> None:
    assert derived_dvc_yaml() == (ROOT / "dvc.yaml").read_text(), (
        "dvc.yaml: code deps are stale (run make schema)"
    )


def test_an_import_module_call_with_a_literal_name_is_an_import(tmp_path: Path) -> None:
    source = tmp_path / "registration.py"
    source.write_text(
        "from importlib import import_module\nimport importlib\n"
        'A = import_module("part_a.store").KIND\nB = importlib.import_module("part_b")\n'
        "C = import_module(NAME)\n"
    )
    assert {"part_a", "part_a.store", "part_b"} <= imported_modules(source, "core")
    assert "NAME" not in imported_modules(source, "core")


def test_the_rewrite_replaces_only_the_code_lines_and_keeps_comments() -> None:
    before = (
        "stages:\n  train:\n    cmd: python -m train\n    deps:\n      - data/params.checked\n"
        "      - train/old.py\n      - train/kept.py  # why it is here\n      # a comment\n"
        "      - data/prepared\n    outs:\n      - model\n  other:\n    cmd: echo\n    deps:\n"
        "      - x.py\n"
    )
    after = with_derived_deps(before, {"train": {"train/kept.py", "common/new.py"}})
    assert after == before.replace(
        "      - train/old.py\n      - train/kept.py  # why it is here\n",
        "      - common/new.py\n      - train/kept.py  # why it is here\n",
    )
    no_code_yet = with_derived_deps(
        before.replace("      - train/old.py\n      - train/kept.py  # why it is here\n", ""),
        {"train": {"a/b.py"}},
    )
    assert "      - data/prepared\n      - a/b.py\n    outs:" in no_code_yet
