"""params.yaml is yours: pointing it at your own data changes no test. The tests read their
own params (tests/params.yaml, ``TEST_PARAMS``), and every repository copy they make gets it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from common.params import load_params, read_params_yaml
from tests.conftest import ROOT, TEST_PARAMS, UNIT_TESTS, copy_project, make_repo
from tests.conftest import test_env as stage_env

# What a user's first edit looks like: another file, other columns, labels, key and model.
YOUR_DATA = {
    "data": {
        "source": "data/external/reviews.csv",
        "text_column": "review",
        "label_column": "stars",
        "negative_labels": [1, 2],
        "positive_labels": [4, 5],
        "synthetic_rows": 123,
    },
    "split": {"key": ["movie_id"], "modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]},
    "train": {"model": "svm"},
    "predict": {"key": ["review_id"]},
}


def test_no_test_reads_the_projects_params_yaml() -> None:
    """Tests that need params read ``TEST_PARAMS`` or a copy made from it."""
    readers = re.compile(r"ROOT\s*/\s*[\"']params\.yaml[\"']")
    sources = sorted([*ROOT.glob("tests/*.py"), *ROOT.glob("*/tests/*.py")])
    assert len(sources) > 50
    found = [str(path.relative_to(ROOT)) for path in sources if readers.search(path.read_text())]
    assert found == []


def test_a_repository_copy_gets_the_tests_params_whatever_the_projects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", synthetic_rows=3000)
    copied = load_params(repo.path / "params.yaml")
    expected = read_params_yaml(TEST_PARAMS)
    assert copied.data.text_column == expected["data"]["text_column"] == "Phrase"
    assert copied.split.key == ("SentenceId",) and copied.data.synthetic_rows == 3000


def test_the_unit_tests_pass_with_a_params_yaml_pointed_at_other_data(tmp_path: Path) -> None:
    """A copy of the repository whose params.yaml a user has pointed at their data: the unit
    tests (make test-fast) still pass there, unchanged."""
    copy = copy_project(tmp_path / "project")
    params = read_params_yaml(copy / "params.yaml")
    for section, values in YOUR_DATA.items():
        params[section].update(values)
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert load_params(copy / "params.yaml").data.text_column == "review"  # a valid edit
    result = subprocess.run(
        UNIT_TESTS,
        cwd=copy,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d{3,} passed\b", result.stdout), result.stdout[-2000:]
