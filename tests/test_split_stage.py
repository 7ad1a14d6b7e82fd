"""``python -m prepare_data`` end to end in a scratch folder: bad input fails with one line and
writes nothing; good input gives the same bytes on every run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.params import read_params_yaml
from tests.conftest import ROOT, TEST_PARAMS, run_module

OUTPUTS = ("data/prepared/train.parquet", "data/prepared/valid.parquet", "data/prepared/test.parquet")
TSV = "PhraseId\tSentenceId\tDate\tPhrase\tSentiment\n" + "".join(
    f"{i}\t{i // 4}\t2021-0{1 + i % 2}-{1 + i % 28:02d}\tphrase {i % 17}\t{(0, 4, 2)[i % 3]}\n"
    for i in range(1, 301)
)
SEQUENTIAL = {
    "method": "sequential",
    "time_column": "Date",
    "train": [1, 21],
    "valid": [21, 26],
    "test": [26, 32],
}


def scratch(tmp_path: Path, tsv: str = TSV, **split: object) -> Path:
    params = read_params_yaml(TEST_PARAMS)
    params["split"].update(split)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/reviews.tsv").write_text(tsv)
    return tmp_path


def fails_with(folder: Path, *expected: str) -> None:
    result = run_module("prepare_data", folder, code=ROOT)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    for text in expected:
        assert text in error, error
    written = [p for p in (*OUTPUTS, "metrics/split.json") if (folder / p).exists()]
    assert written == []
    assert list(folder.rglob(".*tmp-*")) == []


@pytest.mark.parametrize(
    ("tsv", "split", "expected"),
    [
        (TSV, {"key": ["MovieId"]}, ["data/raw/reviews.tsv", "column 'MovieId' (split.key) not found"]),
        (
            TSV.replace("\tphrase", "\t\tphrase").replace("Date\t", "Date\tEmpty\t"),
            {"key": ["SentenceId", "Empty"]},
            ["data/raw/reviews.tsv", "split.key ['SentenceId', 'Empty'] is NULL in every row"],
        ),
        (
            TSV.replace("2021-01-03", "2021-13-03"),
            SEQUENTIAL,
            ["column 'Date' (split.time_column) row 2: cannot parse '2021-13-03'"],
        ),
        (TSV, {"modulus": 1}, ["params.yaml", "split.modulus: must be at least 2, got 1"]),
        (TSV, {"valid": [7, 9]}, ["split.train [0, 8) overlaps split.valid [7, 9)"]),
        (TSV, {"method": "sequential"}, ["split.train: range [0, 8) must lie within [1, 32)"]),
        (TSV, {"max_ks": 0.01}, ["KS distance", "> split.max_ks (0.01)"]),
    ],
)
def test_bad_input_fails_with_one_line_and_no_outputs(
    tmp_path: Path, tsv: str, split: dict, expected: list[str]
) -> None:
    fails_with(scratch(tmp_path, tsv, **split), *expected)


def test_reruns_give_identical_bytes_and_a_summary(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    first = run_module("prepare_data", folder, code=ROOT, check=True)
    outputs = {p: (folder / p).read_bytes() for p in (*OUTPUTS, "metrics/split.json")}
    assert "leakage: keys in several splits 0 (random split:" in first.stderr
    assert "distinct keys for modulus 10: fewer than 10 per bucket" in first.stderr
    run_module("prepare_data", folder, code=ROOT, check=True)
    assert {p: (folder / p).read_bytes() for p in outputs} == outputs


def test_sequential_stage_on_a_date_column(tmp_path: Path) -> None:
    folder = scratch(tmp_path, **SEQUENTIAL)
    result = run_module("prepare_data", folder, code=ROOT)
    assert result.returncode == 0, result.stderr
    report = yaml.safe_load((folder / "metrics/split.json").read_text())
    assert report["method"] == "sequential"
    assert report["leakage"]["keys_in_several_splits"] == 0
    assert sum(report["rows"].values()) == 200  # every row with label 0 or 4


def test_a_label_the_label_column_cannot_hold_fails_with_one_line(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    params = read_params_yaml(folder / "params.yaml")
    params["data"]["negative_labels"] = ["neg"]
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    fails_with(
        folder,
        "data/raw/reviews.tsv: data.negative_labels: 'neg' cannot be compared with column 'Sentiment' "
        "(data.label_column) of type int64",
    )


def test_sampling_a_sequential_split_fails_with_one_line(tmp_path: Path) -> None:
    fails_with(
        scratch(tmp_path, **SEQUENTIAL, sample=2), "params.yaml", "split.sample: sampling is for method hash"
    )
