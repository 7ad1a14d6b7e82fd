"""params.yaml validation: every error names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import PipelineError
from common.params import load_params

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_the_committed_params_file_is_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.train.model == "logreg"
    assert params.split.key == ("SentenceId",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: {model: xgboost}", "train.model: expected one of logreg, svm, torch; got 'xgboost'"),
        ("train: {logreg: {C: big}}", "train.logreg.C: expected a number, got 'big'"),
        ("train: {logreg: {max_iter: 1.5}}", "train.logreg.max_iter: expected an integer, got 1.5"),
        ("split: {modulus: 1}", "split.modulus: must be at least 2, got 1"),
        ("split: {modulus: true}", "split.modulus: expected an integer, got True"),
        ("split: {train: [0, 9]}", "split.train [0, 9) overlaps split.valid [8, 9)"),
        ("split: {test: [9, 11]}", "split.test: range [9, 11) must satisfy"),
        ("split: {key: SentenceId}", "split.key: expected a list, got 'SentenceId'"),
        ("data: {synthetic_rows: '5'}", "data.synthetic_rows: expected an integer, got '5'"),
        ("data: {positive_labels: [0]}", "data: labels ['0'] are both negative and positive"),
        ("data: {sorce: x.tsv}", "data.sorce: unknown key"),
        ("trian: {}", "trian: unknown key"),
        ("train: [1, 2]", "train: expected a mapping, got list"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError) as error:
        load_params(write(tmp_path, text))
    assert str(error.value).startswith(f"{tmp_path / 'params.yaml'}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_keys_take_defaults_and_ints_widen_to_floats(tmp_path: Path) -> None:
    params = load_params(write(tmp_path, "train: {logreg: {C: 3}}"))
    assert params.train.logreg.C == 3.0 and isinstance(params.train.logreg.C, float)
    assert params.train.logreg.max_iter == 1000
    assert params.data.source == "synthetic"


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="line 1 is not valid YAML"):
        load_params(write(tmp_path, "train: {model: [unclosed"))
    with pytest.raises(PipelineError, match="not found"):
        load_params(tmp_path / "absent.yaml")
