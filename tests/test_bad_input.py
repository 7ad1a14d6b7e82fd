"""Bad input: one clear line naming the file, column or key, a non-zero exit, and no output
written or replaced. Each case runs the real stage command in a scratch folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from common.params import read_params_yaml
from tests.conftest import ROOT, TEST_PARAMS, run_module

GOOD_TSV = "PhraseId\tSentenceId\tPhrase\tSentiment\n1\t1\ta fine film\t4\n2\t1\tfine\t0\n3\t2\tdull\t0\n"
# Outputs that already exist and must survive a failed run byte for byte.
PREVIOUS = {
    "data/prepared/train.parquet": b"previous train",
    "metrics/split.json": b"previous split report",
    "model/meta.json": b"previous model",
    "metrics/model_performance.json": b"previous metrics",
}


def scratch(
    tmp_path: Path, raw: bytes | str | None = GOOD_TSV, raw_name: str = "reviews.tsv", **params: dict
) -> Path:
    config = read_params_yaml(TEST_PARAMS)
    for section, values in params.items():
        config[section].update(values)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(config))
    if raw is not None:
        (tmp_path / "data/raw").mkdir(parents=True)
        data = raw.encode() if isinstance(raw, str) else raw
        (tmp_path / "data/raw" / raw_name).write_bytes(data)
    for name, content in PREVIOUS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    return tmp_path


def assert_fails_cleanly(stage: str, folder: Path, *expected: str) -> None:
    result = run_module(stage, folder, code=ROOT)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 1 and "Traceback" not in result.stderr, result.stderr
    error = lines[-1]
    assert ": error: " in error
    for text in expected:
        assert text in error, error
    for name, content in PREVIOUS.items():
        assert (folder / name).read_bytes() == content, f"{name} was replaced"
    leftovers = [p for p in folder.rglob(".*tmp-*")]
    assert leftovers == [], f"temp files left behind: {leftovers}"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"data": {"text_column": "Review"}}, ["column 'Review'", "data.text_column"]),
        ({"data": {"label_column": "Stars"}}, ["column 'Stars'", "data.label_column"]),
        ({"split": {"key": ["MovieId"]}}, ["column 'MovieId'", "split.key"]),
        ({"data": {"positive_labels": [9], "negative_labels": [7]}}, ["no rows left after label mapping"]),
    ],
)
def test_prepare_data_rejects_missing_columns_and_empty_mapping(
    tmp_path: Path, params: dict, expected: list[str]
) -> None:
    folder = scratch(tmp_path, **params)
    assert_fails_cleanly("prepare_data", folder, "data/raw/reviews.tsv", *expected)


@pytest.mark.parametrize(
    ("raw", "raw_name", "expected"),
    [
        (b"", "reviews.tsv", "file is empty"),
        (b"PhraseId\tSentenceId\tPhrase\tSentiment\n", "reviews.tsv", "has a header but no rows"),
        (b"\x00\x01 not a parquet file", "reviews.parquet", "cannot be read"),
        (b"a\tb\n1\t2\t3\n", "reviews.tsv", "row 1 (line 2): expected 2 fields, got 3"),
    ],
)
def test_prepare_data_rejects_unreadable_files(
    tmp_path: Path, raw: bytes, raw_name: str, expected: str
) -> None:
    folder = scratch(tmp_path, raw=raw, raw_name=raw_name)
    assert_fails_cleanly("prepare_data", folder, f"data/raw/{raw_name}", expected)


def test_get_data_rejects_missing_and_unsupported_sources(tmp_path: Path) -> None:
    folder = scratch(tmp_path, raw=None, data={"source": "data/external/absent.tsv"})
    assert_fails_cleanly("prepare_data.get", folder, "data/external/absent.tsv", "not found")
    assert not (folder / "data/raw").exists()
    folder = scratch(tmp_path / "xlsx", raw=None, data={"source": "reviews.xlsx"})
    assert_fails_cleanly("prepare_data.get", folder, "data.source", "reviews.xlsx")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"train": {"model": "xgboost"}},
            "train.model: expected one of logreg, svm, nb",
        ),
        ({"train": {"logreg": {"C": "big", "max_iter": 10}}}, "train.logreg.C: expected a number, got 'big'"),
        ({"split": {"modulus": "ten"}}, "split.modulus: expected an integer"),
    ],
)
@pytest.mark.parametrize("stage", ["prepare_data", "train", "evaluate"])
def test_every_stage_rejects_bad_params_before_touching_outputs(
    tmp_path: Path, stage: str, params: dict, expected: str
) -> None:
    folder = scratch(tmp_path, **params)
    assert_fails_cleanly(stage, folder, "params.yaml", expected)


def test_train_without_prepared_data_names_the_missing_file(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    shutil.rmtree(folder / "data/prepared")
    result = run_module("train", folder, code=ROOT)
    assert result.returncode != 0
    assert "data/prepared/train.parquet: not found" in result.stderr.strip().splitlines()[-1]
    assert (folder / "model/meta.json").read_bytes() == PREVIOUS["model/meta.json"]


def test_get_data_rejects_a_local_source_outside_its_declared_dependency(tmp_path: Path) -> None:
    folder = scratch(tmp_path / "work", raw=None, data={"source": str(tmp_path / "elsewhere.tsv")})
    (tmp_path / "elsewhere.tsv").write_text(GOOD_TSV)
    assert_fails_cleanly("prepare_data.get", folder, "data.source", "not under data.source_dep")
    assert not (folder / "data/raw").exists()
    # Declaring the file itself as the dependency makes it a valid source.
    folder = scratch(
        tmp_path / "declared",
        raw=None,
        data={"source": str(tmp_path / "elsewhere.tsv"), "source_dep": str(tmp_path / "elsewhere.tsv")},
    )
    result = run_module("prepare_data.get", folder, code=ROOT)
    assert result.returncode == 0, result.stderr
    assert (folder / "data/raw/reviews.tsv").read_text() == GOOD_TSV


def test_a_header_with_terminal_escapes_is_named_on_one_escaped_line(tmp_path: Path) -> None:
    folder = scratch(tmp_path, raw="\x1b[31mA\t\x1b[2JB\tSentiment\nx\ty\t0\n")
    result = run_module("prepare_data", folder, code=ROOT)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "\x1b" not in result.stderr and "\\x1b[31mA" in line, result.stderr
