"""Each optional part is a folder. Deleting it, plus the lines elsewhere that end in
``# optional part: <folder>`` (at most 5: its registration), and running ``make schema``
(which also rewrites dvc.yaml's code deps from the imports), leaves a project that works
without it: on a copy of the repository, the unit tests (every
test module is collected, so every import resolves), ruff and mypy pass, and the pipeline's
first stages run.

What counts as one line (``remove_part``):
- a marked line of code or text is one line;
- a marked YAML mapping key (``  torch:  # optional part: torch_model`` in params.yaml) stands
  for its whole block: the key and every line indented deeper below it go, as one line;
- a marked stage header of the Dockerfile (``# ---- <what>  # optional part: serve``: a comment,
  since a Dockerfile has no trailing comments) stands for the stages below it: every line down
  to the next ``# ---- `` header goes, as one line;
- tests/params.yaml is the tests' copy of params.yaml, kept line for line the same: its marked
  lines repeat params.yaml's and are not counted again;
- derived from the imports, unmarked and uncounted: dvc.yaml's deps on the part's files
  (``make schema`` rewrites them) and the Dockerfile's ``COPY <part>/ <part>/`` of a stage that
  imports it (tests/test_containers.py), which ``remove_part`` drops.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TEST_PARAMS, UNIT_TESTS, copy_project, env_for, run_module
from tests.test_imports import PARTS

MARKER = "# optional part: "
MOST_LINES = 5
# The param value that chooses each part: refused, naming the key, once the part is gone.
# A part that no param chooses (the model service: its own command) is None.
CHOSEN_BY: dict[str, tuple[str, str, str] | None] = {
    "serve": None,
    "spark_engine": ("split", "engine", "spark"),
    "torch_model": ("train", "model", "torch"),
}
# The tests' copy of params.yaml: its marked lines are params.yaml's, not counted twice.
PARAMS_COPY = "tests/params.yaml"


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


DOCKER_HEADER = "# ---- "


def without_marked(
    lines: list[str], part: str, yaml: bool, docker: bool = False
) -> tuple[list[str], list[str]]:
    """``lines`` without those marked for ``part``, and the marked ones. In a YAML file a
    marked mapping key (``key:`` and nothing after it but comments) takes its block along: the
    lines below it that are indented deeper, blank lines and comments among them. In a
    Dockerfile a marked stage header (``# ---- ...``) takes the lines below it, down to the
    next header."""
    kept: list[str] = []
    marked: list[str] = []
    block = None  # the indentation of the marked key whose block is being dropped
    stages = False  # the stages of a marked Dockerfile header are being dropped
    for line in lines:
        if stages and not line.startswith(DOCKER_HEADER):
            continue
        if block is not None and (not line.strip() or indent(line) > block):
            continue
        block, stages = None, False
        if not line.rstrip().endswith(f"{MARKER}{part}"):
            kept.append(line)
            continue
        marked.append(line)
        if yaml and line.split("#", 1)[0].rstrip().endswith(":"):
            block = indent(line)
        stages = docker and line.startswith(DOCKER_HEADER)
    return kept, marked


def derived_line(name: str, line: str, part: str) -> bool:
    """The Dockerfile's copy of ``part``'s folder (a stage that imports it needs it)."""
    return name == "Dockerfile" and line.strip() == f"COPY {part}/ {part}/"


def remove_part(root: Path, part: str) -> list[str]:
    """Delete ``part``'s folder and its marked lines elsewhere (see the module's docstring);
    return the marked lines that count, one per registration."""
    removed = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and part not in p.relative_to(root).parts):
        try:
            lines = path.read_text().splitlines(keepends=True)
        except UnicodeDecodeError:
            continue
        name = str(path.relative_to(root))
        kept, marked = without_marked(
            lines, part, path.suffix in (".yaml", ".yml"), path.name == "Dockerfile"
        )
        kept = [line for line in kept if not derived_line(name, line, part)]
        if kept != lines:
            path.write_text("".join(kept))
        if name != PARAMS_COPY:
            removed += [f"{name}: {line.strip()}" for line in marked]
    shutil.rmtree(root / part)
    return removed


def test_a_marked_yaml_key_takes_its_block_and_the_dockerfile_copy_goes_uncounted(tmp_path: Path) -> None:
    (tmp_path / "part").mkdir()
    (tmp_path / "params.yaml").write_text(
        "train:\n  model: logreg\n  torch:   # the model  # optional part: part\n    a: 1\n\n"
        "    # a comment\n    b:\n      - 2\n  seed: 42\ndata: {}\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/params.yaml").write_text((tmp_path / "params.yaml").read_text())
    (tmp_path / "registry.py").write_text(
        'MODELS = {\n    "part": import_module("part.x"),  # optional part: part\n}\n'
    )
    (tmp_path / "Dockerfile").write_text(
        "COPY train/ train/\nCOPY part/ part/\n\n# ---- the part's image  # optional part: part\n"
        '# a comment\nFROM venv AS part-venv\nRUN true\n\nFROM base AS part\nCMD ["part"]\n\n'
        "# ---- pipeline: the last stage\nFROM tools AS pipeline\n"
    )
    removed = remove_part(tmp_path, "part")
    assert removed == [
        "Dockerfile: # ---- the part's image  # optional part: part",
        "params.yaml: torch:   # the model  # optional part: part",
        'registry.py: "part": import_module("part.x"),  # optional part: part',
    ]
    expected = "train:\n  model: logreg\n  seed: 42\ndata: {}\n"
    assert (tmp_path / "params.yaml").read_text() == (tmp_path / "tests/params.yaml").read_text() == expected
    assert (tmp_path / "registry.py").read_text() == "MODELS = {\n}\n"
    assert (tmp_path / "Dockerfile").read_text() == (
        "COPY train/ train/\n\n# ---- pipeline: the last stage\nFROM tools AS pipeline\n"
    )
    assert not (tmp_path / "part").exists()


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=root, env=env_for(args), capture_output=True, text=True, timeout=600
    )


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

    # mypy starts from the project's cache where `make lint` left one: its incremental mode
    # checks again what changed and gives what a cold run gives, in seconds instead of 35 s of
    # CPU for torch's and numpy's stubs.
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", tmp_path / "mypy-cache")
    for check in (
        UNIT_TESTS,
        [str(Path(sys.executable).parent / "ruff"), "check", "."],
        [str(Path(sys.executable).parent / "mypy"), "--cache-dir", str(tmp_path / "mypy-cache")],
    ):
        result = run(root, *check)
        assert result.returncode == 0, f"{check[-1]}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"

    # The pipeline's first stages, on the tests' small synthetic data (the copy's, without the part).
    params = yaml.safe_load((root / TEST_PARAMS.relative_to(ROOT)).read_text())
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
    chosen = CHOSEN_BY[part]
    if chosen is None:  # no param chooses it: nothing to refuse
        return
    section, key, value = chosen
    params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refused = run_module("common.check_params", root)
    assert refused.returncode != 0
    assert f"params.yaml: {section}.{key}: expected one of" in refused.stderr, refused.stderr
