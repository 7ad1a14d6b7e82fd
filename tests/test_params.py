"""params.yaml validation: every error names the key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.errors import PipelineError
from common.params import Params, load_params
from tests.conftest import TEST_PARAMS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_the_committed_params_file_is_valid() -> None:
    params = load_params(TEST_PARAMS)
    assert params.train.model == "logreg"
    assert params.split.key == ("SentenceId",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The optional models' names follow (torch_model/tests/test_torch_params.py).
        ("train: {model: xgboost}", "train.model: expected one of logreg, svm, nb"),
        ("train: {logreg: {C: big}}", "train.logreg.C: expected a number, got 'big'"),
        ("train: {logreg: {max_iter: 1.5}}", "train.logreg.max_iter: expected an integer, got 1.5"),
        ("split: {modulus: 1}", "split.modulus: must be at least 2, got 1"),
        ("split: {max_ks: .nan}", "split.max_ks: expected a finite number, got nan"),
        ("split: {modulus: true}", "split.modulus: expected an integer, got True"),
        ("split: {train: [0, 9]}", "split.train [0, 9) overlaps split.valid [8, 9)"),
        ("split: {test: [9, 11]}", "split.test: range [9, 11) must satisfy"),
        ("split: {key: SentenceId}", "split.key: expected a list, got 'SentenceId'"),
        ("data: {synthetic_rows: '5'}", "data.synthetic_rows: expected an integer, got '5'"),
        ("data: {positive_labels: [0]}", "data: labels ['0'] are both negative and positive"),
        (
            "data: {label_column: Phrase}",
            "data.label_column: is 'Phrase', the same column as data.text_column",
        ),
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "split: {modulus: 9223372036854775808}",
            "split.modulus: must be at most 2147483647, got 9223372036854775808",
        ),
        ("split: {seed: 1.0e+23}", "split.seed: expected an integer, got 1e+23"),
        ("split: {seed: 100000000000000000000000}", "split.seed: must be at most 4294967295"),
        ("train: {seed: -1}", "train.seed: must be at least 0, got -1"),
        ("train: {seed: 4294967296}", "train.seed: must be at most 4294967295, got 4294967296"),
        ("data: {synthetic_rows: 100000000000000000000000}", "data.synthetic_rows: must be at most 10000000"),
        ("split: {train: [-1, 8]}", "split.train[0]: must be at least 0, got -1"),
        ("split: {train: [0, 8, 9]}", "split.train: expected a list of 2 items, got 3"),
        (
            "data: {negative_labels: [true]}",
            "data.negative_labels[0]: expected an integer or a string, got True",
        ),
        (
            "split: {method: sequential, time_column: Date, time_part: year, train: [-5, 2020],"
            " valid: [2020, 2021], test: [2021, 2022]}",
            "split.train[0]: must be at least 0, got -5",
        ),
        ("train: {logreg: {C: .inf}}", "train.logreg.C: expected a finite number, got inf"),
        ("train: {svm: {C: .nan}}", "train.svm.C: expected a finite number, got nan"),
        ("split:\n  modulus: 10\n  modulus: 20\n", "split.modulus: given twice (lines 2 and 3); keep one"),
        ("split: {key: [SentenceId]}\nsplit: {modulus: 20}\n", "split: given twice (lines 1 and 2)"),
        ("data: {source: reviews.xlsx}", "data.source: 'reviews.xlsx' is not 'synthetic' or a .tsv, .csv or"),
        ("data: {source: /elsewhere/r.tsv}", "data.source: '/elsewhere/r.tsv' is not under data.source_dep"),
        (
            "data: {source: 's3://b/k.tsv'}",
            "data.source_dep: must be 's3://b/k.tsv' (the same as data.source)",
        ),
        (
            "data: {source: 's3://KEY:se/cret@bucket/k.tsv', source_dep: 's3://KEY:se/cret@bucket/k.tsv'}",
            "data.source: holds a URL with a user name and password (not shown)",
        ),
        ("", "is empty (restore it: git checkout params.yaml)"),
        ("# all commented out\n", "is empty"),
    ],
)
def test_out_of_bounds_duplicate_and_empty_params_are_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    test_bad_values_name_the_key(tmp_path, text, message)


def test_a_byte_that_is_not_utf8_names_its_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes(b"data:\n  text_column: caf\xe9\n")
    with pytest.raises(PipelineError) as error:
        load_params(path)
    assert str(error.value) == f"{path}: line 2 (byte offset 24) is not UTF-8 (bytes e9)"


def integer_schemas(schema: Any, key: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every integer in a JSON Schema (pydantic's, with ``$defs``), with its dotted key."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield key, schema
        for name, child in schema.items():
            if name == "properties":
                for prop, sub in child.items():
                    yield from integer_schemas(sub, f"{key}.{prop}" if key else prop)
            elif name != "$defs":
                yield from integer_schemas(child, key)
    elif isinstance(schema, list):
        for child in schema:
            yield from integer_schemas(child, key)


def integer_params() -> dict[str, dict]:
    """Every integer param's schema, by section and key (``SplitParams.modulus``)."""
    schema = Params.model_json_schema(ref_template="{model}")
    found = dict(integer_schemas(schema))
    for name, section in schema["$defs"].items():
        found.update({f"{name}.{key}": sub for key, sub in integer_schemas(section)})
    return found


def test_every_integer_param_has_bounds() -> None:
    """An unbounded integer would overflow, hang or exhaust memory further down (a modulus of
    2**63, 1e23 synthetic rows, 100000 threads): each has a minimum and a maximum."""
    found = integer_params()
    assert len(found) >= 12  # every section was read: the core's have 12 (the parts' add theirs)
    unbounded = sorted(key for key, sub in found.items() if "minimum" not in sub or "maximum" not in sub)
    assert unbounded == []


HUGE_HEX = "0x" + "f" * 5000  # parses, and has more digits than Python prints (4300)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split: {time_column: 2001-13-45}", "holds a value that its YAML form or tag cannot hold"),
        ("split: {modulus: !!int abc}", "holds a value that its YAML form or tag cannot hold"),
        (
            "split: !!omap [{modulus: 10}, {modulus: 1}]",
            "holds a value that its YAML form or tag cannot hold",
        ),
        ("split: {modulus: 1" + "0" * 4400 + "}", "holds a value that its YAML form or tag cannot hold"),
        (
            f"split: {{modulus: {HUGE_HEX}}}",
            "split.modulus: must be at most 2147483647, got an integer of about",
        ),
        (
            f"train: {{logreg: {{C: {HUGE_HEX}}}}}",
            "train.logreg.C: expected a finite number, got an integer of",
        ),
        ('split:\n  "a\\nb": 1\n  "a\\nb": 2\n', "split.'a\\nb': given twice (lines 2 and 3)"),
        ('data: {source: "data/external/a\\0.csv"}', "data.source: a path cannot hold a NUL character"),
        ("split: {train: [0]}", "split.train[1]: missing: the list has too few items"),
        ('split: {method: "\\ud800"}', "split.method: holds a character that is not valid Unicode"),
    ],
)
def test_values_yaml_or_pydantic_cannot_hold_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    test_bad_values_name_the_key(tmp_path, text, message)


def test_a_source_name_too_long_for_the_file_system_names_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    name = "data/external/" + "x" * 300 + ".csv"
    with pytest.raises(PipelineError, match=r"data.source: '.*' cannot be looked up: File name too long"):
        load_params(write(tmp_path, f"data: {{source: {name}}}"))


def test_a_params_file_that_is_huge_or_not_a_regular_file_is_refused_unread(tmp_path: Path) -> None:
    big = write(tmp_path, "# padding\n" * 30_000)
    with pytest.raises(PipelineError, match=r"params.yaml: larger than 256 KiB; a params file is a few KB"):
        load_params(big)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it to read would block until a writer came
    with pytest.raises(PipelineError, match="not found, or not a regular file"):
        load_params(fifo)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split: {true: 1}", "split: line 1: the key 'true' reads as a boolean, not a name"),
        (
            "train:\n  logreg:\n    0: 1\n",
            "train.logreg: line 3: the key '0' reads as an integer, not a name",
        ),
        ("~: 1", "the document: line 1: the key '~' reads as null, not a name"),
    ],
)
def test_a_key_that_is_not_a_name_is_refused(tmp_path: Path, text: str, message: str) -> None:
    test_bad_values_name_the_key(tmp_path, text, message)
