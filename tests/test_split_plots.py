"""The split's plot data: the label's and the text length's CDF per split (prepare_data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from prepare_data.report import ks_from_counts
from prepare_data.split_plots import (
    LABEL_CDF_FILE,
    PLOT_FILES,
    TEXT_LENGTH_CDF_FILE,
    TextLengths,
    character_lengths,
    label_cdf_rows,
    length_cdf_rows,
    length_points,
)
from tests.conftest import ROOT, run_module
from tests.test_split_stage import scratch

SPLITS = ("train", "valid", "test")


def test_label_cdf_rows_are_cumulative_shares_whose_largest_gap_is_the_ks_distance() -> None:
    counts = np.array([[30, 70], [50, 50], [0, 0]])  # train 30% negative, valid 50%, test empty
    rows = label_cdf_rows(counts, SPLITS)
    assert rows == [
        {"label": 0, "train": 0.3, "valid": 0.5, "test": 0.0},
        {"label": 1, "train": 1.0, "valid": 1.0, "test": 0.0},
    ]
    gap = max(abs(row["train"] - row["valid"]) for row in rows)
    assert gap == pytest.approx(ks_from_counts(counts[0], counts[1]))


def test_text_lengths_count_characters_per_split_and_skip_nulls() -> None:
    lengths = TextLengths(3)
    lengths.add(np.array([0, 0, 1, 2]), pa.array(["ab", "élan", None, ""]))
    lengths.add(np.array([1, 0]), pa.array(["abcdefgh", "xy"]))
    assert lengths.counts.shape == (3, 9)
    assert lengths.counts[0].tolist() == [0, 0, 2, 0, 1, 0, 0, 0, 0]  # 2, 4 ("élan": 4 characters), 2
    assert lengths.counts[1].tolist() == [0] * 8 + [1]  # the null is not counted
    assert lengths.counts[2].tolist() == [1] + [0] * 8  # the empty text has length 0
    rows = length_cdf_rows(lengths.counts, SPLITS)
    assert rows == [
        {"length": 0, "train": 0.0, "valid": 0.0, "test": 1.0},
        {"length": 2, "train": round(2 / 3, 6), "valid": 0.0, "test": 1.0},
        {"length": 4, "train": 1.0, "valid": 0.0, "test": 1.0},
        {"length": 8, "train": 1.0, "valid": 1.0, "test": 1.0},
    ]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_character_lengths_equal_arrow_utf8_length(kind: pa.DataType) -> None:
    texts = pa.array(["", "ab", "élan", None, "日本語 text", "🙂🙂", "naïve café", "x" * 70], kind)
    for array in (texts, texts.slice(2), texts.slice(1, 4)):  # offsets not from 0
        valid = np.array(array.is_valid().to_pylist())
        expected = [n for n in pc.utf8_length(array).to_pylist() if n is not None]
        assert character_lengths(array)[valid].tolist() == expected


def test_many_distinct_lengths_are_drawn_at_quantiles_of_all_splits_together() -> None:
    counts = np.ones((3, 10_000), np.int64)  # every length 0..9999 once per split
    points = length_points(counts, max_points=100)
    # The shortest length, then the first length at which 1%, 2%, ... 100% of the texts are.
    assert points.tolist() == [0, *range(99, 10_000, 100)]
    assert length_points(np.ones((3, 50), np.int64), max_points=100).tolist() == list(range(50))


def test_the_stage_writes_both_cdfs_matching_the_split_files(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    run_module("prepare_data", folder, code=ROOT, check=True)
    prepared = {name: pq.read_table(folder / f"data/prepared/{name}.parquet") for name in SPLITS}
    label_rows = json.loads((folder / LABEL_CDF_FILE).read_text())
    for name, table in prepared.items():
        labels = np.asarray(table.column("label"))
        assert label_rows[0][name] == round(float(np.mean(labels == 0)), 6), name
        assert label_rows[1][name] == 1.0
    length_rows = json.loads((folder / TEXT_LENGTH_CDF_FILE).read_text())
    for name, table in prepared.items():
        lengths = np.array([len(text) for text in table.column("Phrase").to_pylist()])
        for row in length_rows:
            assert row[name] == round(float(np.mean(lengths <= row["length"])), 6), (name, row)
    assert {row["length"] for row in length_rows} == {
        len(text) for table in prepared.values() for text in table.column("Phrase").to_pylist()
    }
    # Declared in dvc.yaml as prepare_data's outputs, and drawn by a plot of their own each.
    config = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = [
        next(iter(out)) if isinstance(out, dict) else out for out in config["stages"]["prepare_data"]["outs"]
    ]
    assert {str(path) for path in PLOT_FILES} <= set(outs)
    plots = {name: props for entry in config["plots"] for name, props in entry.items()}
    assert plots["split_label_cdf"]["y"] == {str(LABEL_CDF_FILE): list(SPLITS)}
    assert plots["split_text_length_cdf"]["y"] == {str(TEXT_LENGTH_CDF_FILE): list(SPLITS)}
    # A second run writes the same bytes.
    before = {path: (folder / path).read_bytes() for path in PLOT_FILES}
    run_module("prepare_data", folder, code=ROOT, check=True)
    assert {path: (folder / path).read_bytes() for path in PLOT_FILES} == before
