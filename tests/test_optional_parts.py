"""Each optional part is a folder. Deleting it, plus the lines elsewhere that end in
``# optional part: <folder>`` (at most 5: its registration), and running ``make schema``
(which also rewrites dvc.yaml's code deps from the imports), leaves a project that works
without it: on a copy of the repository, the unit tests (every
test module is collected, so every import resolves), ruff and mypy pass, and the pipeline's
first stages run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TEST_PARAMS, UNIT_TESTS, copy_project, run_module
from tests.conftest import test_env as stage_env
from tests.test_imports import PARTS

MARKER = "# optional part: "
MOST_LINES = 5
# The param value that chooses each part: refused, naming the key, once the part is gone.
CHOSEN_BY = {"spark_engine": ("split", "engine", "spark")}


def remove_part(root: Path, part: str) -> list[str]:
    """Delete ``part``'s folder and its marked lines elsewhere; return those lines."""
    removed = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and part not in p.relative_to(root).parts):
        try:
            lines = path.read_text().splitlines(keepends=True)
        except UnicodeDecodeError:
            continue
        kept = [line for line in lines if not line.rstrip().endswith(f"{MARKER}{part}")]
        if len(kept) != len(lines):
            removed += [f"{path.relative_to(root)}: {line.strip()}" for line in lines if line not in kept]
            path.write_text("".join(kept))
    shutil.rmtree(root / part)
    return removed


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=root, env=stage_env(), capture_output=True, text=True, timeout=600)


def test_every_part_is_a_folder_with_its_code_tests_and_docs() -> None:
    assert sorted(CHOSEN_BY) == sorted(PARTS)
    for part in PARTS:
        assert (ROOT / part / "__init__.py").is_file() and (ROOT / part / "README.md").is_file()
        assert sorted((ROOT / part / "tests").glob("test_*.py")), f"{part} has no tests of its own"


@pytest.mark.parametrize("part", sorted(PARTS))
def test_deleting_an_optional_part_leaves_a_working_project(tmp_path: Path, part: str) -> None:
    root = copy_project(tmp_path / "project")
    removed = remove_part(root, part)
    assert 1 <= len(removed) <= MOST_LINES, removed
    for generator in ("common.params_schema", "scripts.stage_deps"):  # make schema
        result = run(root, sys.executable, "-m", generator)
        assert result.returncode == 0, result.stderr
    assert f"{part}/" not in (root / "dvc.yaml").read_text()

    for check in (
        UNIT_TESTS,
        [str(Path(sys.executable).parent / "ruff"), "check", "."],
        [str(Path(sys.executable).parent / "mypy"), "--cache-dir", str(tmp_path / "mypy-cache")],
    ):
        result = run(root, *check)
        assert result.returncode == 0, f"{check[-1]}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"

    # The pipeline's first stages, on the tests' small synthetic data.
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["data"]["synthetic_rows"] = 2000
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("common.check_params", "prepare_data.get", "prepare_data"):
        result = run_module(stage, root)
        assert result.returncode == 0, f"{stage}: {result.stderr[-2000:]}"
    assert sorted(p.name for p in (root / "data/prepared").iterdir()) == [
        "test.parquet",
        "train.parquet",
        "valid.parquet",
    ]
    section, key, value = CHOSEN_BY[part]
    params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refused = run_module("common.check_params", root)
    assert refused.returncode != 0
    assert f"params.yaml: {section}.{key}: expected one of" in refused.stderr, refused.stderr
