"""The split itself: streaming equals in-memory, order and batching don't matter, the report is
exact, the sequential split follows the calendar, and sampling keeps the BigQuery identity."""

from __future__ import annotations

import datetime
import mmap
import operator
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import PipelineError
from common.params import DataParams, SplitParams, updated
from common.tables import read_table
from prepare_data import membership as membership_module
from prepare_data.hashing import assign_buckets, fingerprint_strings, mix64
from prepare_data.membership import SplitMembership
from prepare_data.report import _TEXT_SALT, SPLITS, ks_from_counts, string_hashes, text_hashes
from prepare_data.split import prepare, split_stream
from prepare_data.stream import SerialWorker, open_batches, prefetch, read_whole
from tests.conftest import ROOT

DATA = DataParams()
HASH = SplitParams()


def farm_fingerprint(value: str) -> int:
    """``FARM_FINGERPRINT`` of one string, through the stage's own function."""
    return int(fingerprint_strings(pa.array([value], pa.string()))[0][0])


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance from the samples: the largest gap between the
    empirical CDFs, at every point of either sample."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a, b = np.sort(a), np.sort(b)
    points = np.union1d(a, b)
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def reviews(sentence_ids: list[int], phrases: list[str], sentiments: list[int]) -> pa.Table:
    return pa.table(
        {
            "PhraseId": pa.array(range(1, len(phrases) + 1), pa.int64()),
            "SentenceId": pa.array(sentence_ids, pa.int64()),
            "Phrase": pa.array(phrases, pa.string()),
            "Sentiment": pa.array(sentiments, pa.int64()),
        }
    )


def split_bytes(
    table: pa.Table, split: SplitParams, batch_rows: int | None, row_group_rows: int
) -> tuple[dict[str, bytes], dict]:
    """Each split's parquet bytes and the report, from batches of ``batch_rows`` (None: one)."""
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    batches = table.combine_chunks().to_batches(max_chunksize=batch_rows)
    report = split_stream(table.schema, batches, DATA, split, sinks, row_group_rows=row_group_rows)
    return {name: sink.getvalue().to_pybytes() for name, sink in sinks.items()}, report


rows_strategy = st.lists(
    st.tuples(
        st.integers(1, 40),
        st.sampled_from(["good", "Bad film", "dull  plot", "fine", "é"]),
        st.integers(0, 4),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=30, deadline=None)
@given(rows=rows_strategy, batch_rows=st.integers(1, 50), row_group_rows=st.integers(1, 20))
def test_streaming_and_in_memory_outputs_are_identical_bytes(
    rows: list[tuple[int, str, int]], batch_rows: int, row_group_rows: int
) -> None:
    ids, phrases, sentiments = map(list, zip(*rows, strict=True))
    if not {0, 4} & set(sentiments):
        sentiments[0] = 4
    table = reviews(ids, phrases, sentiments)
    in_memory, report = split_bytes(table, HASH, None, row_group_rows)
    streamed, streamed_report = split_bytes(table, HASH, batch_rows, row_group_rows)
    assert streamed == in_memory
    assert streamed_report == report
    # Row groups are exactly row_group_rows long, whatever the batches were.
    for name, data in streamed.items():
        metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        assert all(size == row_group_rows for size in sizes[:-1]), (name, sizes)


@settings(max_examples=20, deadline=None)
@given(rows=rows_strategy, seed=st.integers(0, 1000))
def test_split_does_not_depend_on_row_order(rows: list[tuple[int, str, int]], seed: int) -> None:
    rows = [*rows, (1, "good", 0)]
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    results = []
    for ordered in (rows, shuffled):
        ids, phrases, sentiments = map(list, zip(*ordered, strict=True))
        tables, report = prepare(reviews(ids, phrases, sentiments).drop_columns(["PhraseId"]), DATA, HASH)
        as_rows = {name: sorted(zip(*t.to_pydict().values(), strict=True)) for name, t in tables.items()}
        report.pop("random_split_leakage")  # a random split of rows in input order: order-dependent
        results.append((as_rows, report))
    assert results[0] == results[1]


def test_rows_go_to_the_split_of_their_key_bucket_in_input_order() -> None:
    ids = list(range(1, 200))
    table = reviews(ids, [f"text {i}" for i in ids], [4 if i % 3 else 0 for i in ids])
    tables, _ = prepare(table, DATA, HASH)
    for name, (lo, hi) in HASH.ranges().items():
        expected = [i for i in ids if lo <= abs(int(np.fmod(farm_fingerprint(str(i)), 10))) < hi]
        assert tables[name]["SentenceId"].to_pylist() == expected
        assert tables[name]["label"].to_pylist() == [1 if i % 3 else 0 for i in expected]
        assert tables[name].column_names == ["PhraseId", "SentenceId", "Phrase", "Sentiment", "label"]


def keys_in(split: str, count: int, modulus: int = 10) -> list[int]:
    """The first ``count`` sentence ids whose bucket falls in ``split``'s default range."""
    lo, hi = HASH.ranges()[split]
    found = [
        i
        for i in range(1, 1000)
        if lo <= assign_buckets(np.array([farm_fingerprint(str(i))]), modulus)[0] < hi
    ]
    return found[:count]


def test_leakage_report_is_exact_on_a_hand_made_dataset() -> None:
    (t1, t2), (v1,), (s1,) = keys_in("train", 2), keys_in("valid", 1), keys_in("test", 1)
    rows = [
        (t1, "Good film", 4),
        (t1, "dull", 0),
        (t2, "unique words", 4),
        (t2, "unique words", 4),  # twice, but in one split: no leak
        (v1, "dull", 0),  # "dull" is in train, valid and test: one text
        (v1, "great", 4),
        (s1, "  good   FILM ", 0),  # normalizes to train's "good film": a second text
        (s1, "dull", 4),
        (s1, "ignored", 2),  # label 2 is neither negative nor positive
    ]
    ids, phrases, sentiments = map(list, zip(*rows, strict=True))
    tables, report = prepare(reviews(ids, phrases, sentiments), DATA, HASH)
    assert report["rows"] == {"train": 4, "valid": 2, "test": 2}
    assert report["positive_rate"] == {"train": 0.75, "valid": 0.5, "test": 0.5}
    assert report["distinct_keys"] == {"train": 2, "valid": 1, "test": 1}
    assert report["ks_distance"] == {"train_valid": 0.25, "train_test": 0.25, "valid_test": 0.0}
    assert report["leakage"] == {"keys_in_several_splits": 0, "texts_in_several_splits": 2}
    assert report["dropped"] == {
        "label_not_mapped": 1,
        "null_text": 0,
        "null_key": 0,
        "not_sampled": 0,
        "unassigned": 0,
    }
    assert {name: t.num_rows for name, t in tables.items()} == report["rows"]


def test_random_split_contrast_shows_the_leak_hashing_avoids() -> None:
    ids = [i // 8 for i in range(4000)]  # 8 phrases per sentence, like the default data
    table = reviews(ids, [f"phrase {i % 700}" for i in range(4000)], [0, 4] * 2000)
    _, report = prepare(table, DATA, HASH)
    assert report["leakage"]["keys_in_several_splits"] == 0
    assert report["random_split_leakage"]["keys_in_several_splits"] > 200
    _, again = prepare(table, DATA, HASH)
    assert again == report  # seeded: the contrast is repeatable too


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 63)), max_size=300), st.integers(1, 40))
def test_membership_counts_equal_python_sets(items: list[tuple[int, int]], chunk: int) -> None:
    membership = SplitMembership()
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        hashes = np.array([farm_fingerprint(str(v)) for v, _ in part], np.int64)
        membership.add(hashes, np.array([t for _, t in part], np.uint8))
    for shift in (0, 3):
        splits_of: dict[int, set[int]] = {}
        for value, tag in items:
            splits_of.setdefault(value, set()).update(i for i in range(3) if tag >> shift & 1 << i)
        per_split, shared = membership.counts(SPLITS, shift)
        assert shared == sum(len(s) > 1 for s in splits_of.values())
        assert per_split == {n: sum(i in s for s in splits_of.values()) for i, n in enumerate(SPLITS)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_membership_merged_at_every_add_counts_as_python_sets(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Merges into non-empty shards (``_merge_sorted``), values repeated within and across
    batches and shards, with tags that differ between their sightings."""
    monkeypatch.setattr(membership_module, "MIN_MERGE", 1)
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 400, 5_000)
    tags = rng.integers(0, 64, 5_000).astype(np.uint8)
    hashes = mix64(values).view(np.int64)  # spread over the shards' top bits
    membership = SplitMembership()
    for start in range(0, len(values), 357):
        membership.add(hashes[start : start + 357], tags[start : start + 357])
    assert len(membership) == len(np.unique(values))
    for shift in (0, 3):
        splits_of: dict[int, set[int]] = {}
        for value, tag in zip(values.tolist(), tags.tolist(), strict=True):
            splits_of.setdefault(value, set()).update(i for i in range(3) if tag >> shift & 1 << i)
        per_split, shared = membership.counts(SPLITS, shift)
        assert shared == sum(len(s) > 1 for s in splits_of.values())
        assert per_split == {n: sum(i in s for s in splits_of.values()) for i, n in enumerate(SPLITS)}


def _string_hash_reference(value: bytes) -> int:
    """``string_hashes`` of one value, word by word in plain Python integers."""
    mask = (1 << 64) - 1
    # len // 8 + 1 words: the last holds the len % 8 trailing bytes, zero-padded (maybe none).
    words = [int.from_bytes(value[i : i + 8].ljust(8, b"\0"), "little") for i in range(0, len(value) + 1, 8)]
    salts = mix64(np.arange(len(words), dtype=np.uint64) ^ np.uint64(_TEXT_SALT)).tolist()
    total = sum(
        int(mix64(np.array([(w + s) & mask], np.uint64))[0]) for w, s in zip(words, salts, strict=True)
    )
    return int(mix64(np.array([(total & mask) ^ (len(value) * 0x9E3779B97F4A7C15 & mask)], np.uint64))[0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.integers(0, 5))
def test_string_hashes_equal_the_word_by_word_definition(values: list[bytes], skip: int) -> None:
    strings = pa.array(values, pa.binary()).slice(min(skip, len(values) - 1))  # a nonzero offset too
    expected = [_string_hash_reference(v) for v in strings.to_pylist()]
    assert string_hashes(strings).tolist() == expected


def test_string_hashes_tell_apart_texts_that_differ_only_in_word_order_or_padding() -> None:
    # Pairs a weak word hash would merge: swapped 8-byte words, a trailing NUL, high bytes only.
    words = [bytes([a, 0, 0, 0, 0, 0, 0, b]) for a in range(16) for b in range(16)]
    values = [x + y for x in words for y in words]
    values += [b"", b"\0", b"\0" * 8, b"abcdefgh", b"abcdefgh\0"]
    hashes = string_hashes(pa.array(values, pa.binary()))
    assert len(set(hashes.tolist())) == len(set(values))
    same_text_elsewhere = pa.array([b"x", b"abcdefgh", b"y"], pa.binary()).slice(1, 1)
    assert string_hashes(same_text_elsewhere)[0] == hashes[values.index(b"abcdefgh")]


def test_text_hashes_normalize_case_and_whitespace_and_skip_nulls() -> None:
    hashes, valid = text_hashes(pa.array(["Good  Movie", " good movie\t", "GOOD MOVIE!", None]))
    assert hashes[0] == hashes[1] != hashes[2]
    assert valid.tolist() == [True, True, True, False]


def test_sampling_keeps_the_bigquery_rows() -> None:
    ids = list(range(1, 3000))
    table = reviews(ids, [str(i) for i in ids], [4] * len(ids))
    split = SplitParams(sample=50, modulus=10, train=(0, 8), valid=(8, 9), test=(9, 10))
    tables, report = prepare(table, DATA, split)
    fp = {i: farm_fingerprint(str(i)) for i in ids}
    mod = {m: {i: abs(int(np.fmod(fp[i], m))) for i in ids} for m in (50, 500)}
    expected = [i for i in ids if mod[50][i] == 0 and mod[500][i] < 400]
    assert expected and tables["train"]["SentenceId"].to_pylist() == expected
    assert report["dropped"]["not_sampled"] == sum(mod[50][i] != 0 for i in ids)


def test_whole_row_key_puts_duplicate_rows_together() -> None:
    phrases = [f"p{i % 50}" for i in range(600)]
    table = reviews([i % 50 for i in range(600)], phrases, [4] * 600).drop_columns(["PhraseId"])
    tables, report = prepare(table, DATA, SplitParams(key=()))
    assert report["leakage"]["keys_in_several_splits"] == 0
    assert sum(report["distinct_keys"].values()) == 50
    seen = {}
    for name, part in tables.items():
        for phrase in part["Phrase"].to_pylist():
            assert seen.setdefault(phrase, name) == name


def test_null_keys_land_nowhere_and_are_counted() -> None:
    table = pa.table({"SentenceId": [1, None, 3, None], "Phrase": list("abcd"), "Sentiment": [0, 4, 4, 0]})
    tables, report = prepare(table, DATA, HASH)
    assert sum(t.num_rows for t in tables.values()) == 2
    assert report["dropped"]["null_key"] == 2
    assert any("2 rows have a NULL in split.key" in w for w in report["warnings"])


def test_null_texts_land_nowhere_and_are_counted_once() -> None:
    """A NULL text (parquet, JSON) cannot be trained on or scored: the row is dropped and
    counted before its key, so train and predict never meet one."""
    table = pa.table(
        {
            "SentenceId": [1, None, 3, 4, None, 6],
            "Phrase": ["a", None, None, "d", "e", ""],
            "Sentiment": [0, 4, 2, 4, 0, 4],
        }
    )
    tables, report = prepare(table, DATA, HASH)
    assert sum(t.num_rows for t in tables.values()) == 3  # rows 1, 4 and 6: an empty text is a text
    assert all(t["Phrase"].null_count == 0 for t in tables.values())
    assert report["dropped"] == {
        "label_not_mapped": 1,  # row 3: NULL text too, but counted once, as unmapped
        "null_text": 1,
        "null_key": 1,
        "not_sampled": 0,
        "unassigned": 0,
    }
    assert "1 rows have a NULL text and land in no split" in report["warnings"]


def test_null_texts_in_every_labelled_row_name_the_column() -> None:
    table = pa.table({"SentenceId": [1, 2, 3], "Phrase": [None, None, "unlabelled"], "Sentiment": [0, 4, 2]})
    with pytest.raises(
        PipelineError, match=r"column 'Phrase' \(data.text_column\) is NULL in every row with a label"
    ):
        prepare(table, DATA, HASH)


def test_too_few_keys_and_ks_warnings() -> None:
    table = reviews([1, 2, 3, 4], ["a", "b", "c", "d"], [0, 4, 0, 4])
    _, report = prepare(table, DATA, HASH)
    assert any("only 4 distinct keys for modulus 10" in w for w in report["warnings"])
    ids = list(range(1, 400))
    skewed = reviews(
        ids,
        ["x"] * len(ids),
        [4 if assign_buckets(np.array([farm_fingerprint(str(i))]), 10)[0] < 8 else 0 for i in ids],
    )
    _, report = prepare(skewed, DATA, HASH)
    assert report["ks_distance"]["train_test"] == 1.0
    assert any("KS distance train_test is 1.0 > 0.05" in w for w in report["warnings"])
    with pytest.raises(PipelineError, match=r"train_valid is 1\.0 > split\.max_ks"):
        prepare(skewed, DATA, SplitParams(max_ks=0.5))


ARTICLE = SplitParams(
    method="sequential",
    time_column="Date",
    time_part="day_of_month",
    train=(1, 21),
    valid=(21, 26),
    test=(26, 32),
)


HOURLY = SplitParams(
    method="sequential", time_column="Date", time_part="hour", train=(0, 12), valid=(12, 18), test=(18, 24)
)


def test_sequential_split_by_day_of_month() -> None:
    dates = [f"2021-{m:02d}-{d:02d}" for m in (1, 2) for d in range(1, 29)] + [None]
    table = pa.table(
        {"Date": dates, "Phrase": ["p"] * len(dates), "Sentiment": [0, 4] * (len(dates) // 2) + [4]}
    )
    tables, report = prepare(table, DATA, ARTICLE)
    days = {name: sorted({int(d[-2:]) for d in t["Date"].to_pylist()}) for name, t in tables.items()}
    assert days == {"train": list(range(1, 21)), "valid": list(range(21, 26)), "test": [26, 27, 28]}
    assert tables["train"]["Date"].to_pylist()[:2] == ["2021-01-01", "2021-01-02"]  # input order
    assert report["dropped"]["null_key"] == 1
    assert report["leakage"]["keys_in_several_splits"] == 0
    assert report["distinct_keys"]["valid"] == 10


def test_sequential_split_reads_dates_timestamps_and_weekdays() -> None:
    day = pa.array(
        [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(14)], pa.date32()
    )  # Monday first
    table = pa.table({"Date": day, "Phrase": ["p"] * 14, "Sentiment": [4] * 14})
    week = updated(ARTICLE, time_part="day_of_week", train=(1, 6), valid=(6, 7), test=(7, 8))
    tables, _ = prepare(table, DATA, week)
    assert [t.num_rows for t in tables.values()] == [10, 2, 2]
    stamps = pa.table(
        {
            "Date": ["2024-01-01T23:30:00+02:00", "2024-01-01 10:00:00"],
            "Phrase": ["a", "b"],
            "Sentiment": [4, 4],
        }
    )
    with pytest.raises(PipelineError, match="mixes times with and without a zone offset"):
        prepare(stamps, DATA, HOURLY)


def test_csv_file_streamed_in_small_blocks_equals_the_whole_file(tmp_path: Path) -> None:
    ids = [i // 5 for i in range(3000)]
    table = reviews(ids, [f"phrase number {i % 911}" for i in range(3000)], [0, 1, 4] * 1000)
    path = tmp_path / "reviews.tsv"
    lines = ["PhraseId\tSentenceId\tPhrase\tSentiment"] + [
        "\t".join(map(str, row)) for row in zip(*table.to_pydict().values(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    whole = read_table(path)
    expected = {name: pa.BufferOutputStream() for name in SPLITS}
    report = split_stream(
        whole.schema, whole.combine_chunks().to_batches(), DATA, HASH, expected, row_group_rows=97
    )
    schema, batches = open_batches(path, block_size=4096)
    streamed = {name: pa.BufferOutputStream() for name in SPLITS}
    assert split_stream(schema, batches, DATA, HASH, streamed, row_group_rows=97) == report
    for name in SPLITS:
        assert streamed[name].getvalue() == expected[name].getvalue()


def test_a_value_that_does_not_fit_a_later_chunk_widens_the_column_from_the_first_row(tmp_path: Path) -> None:
    # The first chunks say PhraseId is an integer; row 2001 says it is text. The file is read
    # again with the column as text, as pyarrow's read_csv of the whole file types it.
    path = tmp_path / "reviews.tsv"
    lines = [f"{i}\t{i}\tphrase {i}\t{i % 5}" for i in range(2000)] + ["x\t1\tbad id\t4"]
    path.write_text("PhraseId\tSentenceId\tPhrase\tSentiment\n" + "\n".join(lines) + "\n")
    whole = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter="\t"))
    assert whole.schema.field("PhraseId").type == pa.string()
    expected = {name: pa.BufferOutputStream() for name in SPLITS}
    report = split_stream(whole.schema, whole.combine_chunks().to_batches(), DATA, HASH, expected)
    attempts: list[dict[str, pa.BufferOutputStream]] = []

    def split(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> dict:
        attempts.append({name: pa.BufferOutputStream() for name in SPLITS})  # each starts afresh
        return split_stream(schema, batches, DATA, HASH, attempts[-1])

    assert read_whole(path, split, block_size=4096) == report
    assert len(attempts) == 2
    for name in SPLITS:
        assert attempts[-1][name].getvalue() == expected[name].getvalue()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1), max_size=60), st.lists(st.integers(0, 1), max_size=60))
def test_ks_from_label_counts_equals_the_two_sample_statistic(a: list[int], b: list[int]) -> None:
    counts_a, counts_b = np.bincount(a, minlength=2), np.bincount(b, minlength=2)
    assert ks_from_counts(counts_a, counts_b) == pytest.approx(ks_distance(np.array(a), np.array(b)))


@pytest.mark.parametrize(
    ("first", "later", "expected"),
    [
        (
            "2024-01-01 10:00:00",
            "2024-01-01T23:30:00+02:00",
            "row 4: a time with a zone offset after times without",
        ),
        (
            "2024-01-01T23:30:00+02:00",
            "2024-01-01 10:00:00",
            "row 4: a time without a zone offset after times with",
        ),
    ],
)
def test_sequential_times_keep_the_first_batchs_kind_of_timestamp(
    first: str, later: str, expected: str
) -> None:
    # Naive and zoned times in different batches would mix local and UTC hours, so the
    # split would depend on where the batches begin: it fails, as it does within one batch.
    table = pa.table({"Date": [None, first, first, later], "Phrase": list("abcd"), "Sentiment": [0, 4, 0, 4]})
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    with pytest.raises(PipelineError) as error:
        split_stream(table.schema, table.to_batches(max_chunksize=3), DATA, HOURLY, sinks, source="in.tsv")
    assert (
        str(error.value)
        == f"in.tsv: column 'Date' (split.time_column) {expected} one; use one kind in the whole column"
    )


def test_a_batch_of_null_times_does_not_fix_the_kind_of_timestamp() -> None:
    times = [None, None, "2024-01-01T23:30:00+02:00", "2024-01-01T08:00:00+02:00"]
    table = pa.table({"Date": times, "Phrase": list("abcd"), "Sentiment": [0, 4, 0, 4]})
    whole = split_bytes(table, HOURLY, None, 97)
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    report = split_stream(
        table.schema, table.to_batches(max_chunksize=2), DATA, HOURLY, sinks, row_group_rows=97
    )
    assert ({name: sink.getvalue().to_pybytes() for name, sink in sinks.items()}, report) == whole
    assert report["rows"] == {"train": 1, "valid": 0, "test": 1}  # 21:30 and 06:00 UTC


def test_sampling_with_the_sequential_split_is_refused() -> None:
    with pytest.raises(PipelineError, match=r"^split\.sample: sampling is for method hash"):
        updated(HOURLY, sample=10)


def open_files() -> set[str]:
    """The files this process has open (Linux)."""
    return {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "batch-reader"]


def test_a_failure_before_the_first_batch_closes_the_input_and_the_files(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text(
        "PhraseId\tSentenceId\tPhrase\tSentiment\n" + "".join(f"{i}\t{i}\tp\t4\n" for i in range(50))
    )
    schema, batches = open_batches(path, block_size=256)
    with pytest.raises(PipelineError, match=r"column 'MovieId' \(split\.key\) not found"):
        split_stream(schema, batches, DATA, SplitParams(key=("MovieId",)), {})
    assert str(path) not in open_files()  # the batches are still referenced here


def test_a_sink_that_cannot_be_opened_closes_the_input_and_the_sinks_opened_before(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text(
        "PhraseId\tSentenceId\tPhrase\tSentiment\n" + "".join(f"{i}\t{i}\tp\t4\n" for i in range(50))
    )
    schema, batches = open_batches(path, block_size=256)
    # A full disk.
    sinks = {"train": tmp_path / "train.parquet", "valid": "/dev/full", "test": tmp_path / "test.parquet"}
    with pytest.raises(OSError, match="No space left on device") as error:
        split_stream(schema, batches, DATA, HASH, sinks)
    assert error.value.__traceback__ is not None
    assert not {str(path), str(tmp_path / "train.parquet")} & open_files()
    assert reader_threads() == []


def test_split_files_layout_dictionary_labels_delta_ids_no_text_statistics() -> None:
    table = reviews(list(range(300)), [f"phrase {i}" for i in range(300)], [0, 4, 4] * 100)
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    split_stream(table.schema, table.to_batches(), DATA, HASH, sinks)
    metadata = pq.ParquetFile(pa.BufferReader(sinks["train"].getvalue())).metadata
    chunks = {
        metadata.schema.column(i).name: metadata.row_group(0).column(i) for i in range(metadata.num_columns)
    }
    assert {name for name, chunk in chunks.items() if chunk.has_dictionary_page} == {"Sentiment", "label"}
    assert {name for name, chunk in chunks.items() if chunk.statistics is None} == {"Phrase"}
    delta = {name for name, chunk in chunks.items() if "DELTA_BINARY_PACKED" in chunk.encodings}
    assert delta == {"PhraseId", "SentenceId"}


def test_a_failure_closing_one_split_discards_the_others(tmp_path: Path) -> None:
    table = reviews(list(range(200)), ["p"] * 200, [0, 4] * 100)
    # Rows are written when the files close (one row group each); valid's sink is too small.
    sinks = {
        "train": tmp_path / "train.parquet",
        "valid": pa.FixedSizeBufferWriter(pa.allocate_buffer(64)),
        "test": tmp_path / "test.parquet",
    }
    with pytest.raises(OSError, match="out of bounds") as error:
        split_stream(table.schema, table.to_batches(), DATA, HASH, sinks, row_group_rows=1000)
    # Closed, not left to the garbage collector: the error's traceback still holds the writers.
    assert error.value.__traceback__ is not None
    assert str(tmp_path / "test.parquet") not in open_files()


def test_a_parquet_input_is_closed_when_read_or_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "reviews.parquet"
    pq.write_table(reviews([1, 2], ["a", "b"], [0, 4]), path)
    _, batches = open_batches(path)
    assert sum(b.num_rows for b in batches) == 2
    assert str(path) not in open_files()
    _, batches = open_batches(path)
    batches.close()
    assert str(path) not in open_files()


def test_prefetch_reads_at_most_depth_ahead_and_close_frees_the_producer() -> None:
    """The bound checked directly, at each step (no sleep to reach a state): the producer holds
    at most ``depth`` queued items and one in hand beyond those consumed. Closing then ends the
    producer whether it is blocked on the full queue or about to be."""
    depth, asked = 1, []
    asked_for_third = threading.Event()

    def items() -> Iterator[int]:
        for item in range(1, 100):
            asked.append(item)
            if item == 3:
                asked_for_third.set()
            yield item

    batches = prefetch(items(), depth=depth)  # type: ignore[arg-type]
    for consumed in (1, 2):
        assert next(batches) == consumed
        assert len(asked) <= consumed + depth + 1
    assert asked_for_third.wait(5)
    closer = threading.Thread(target=batches.close, daemon=True)
    closer.start()
    closer.join(5)
    assert not closer.is_alive()
    assert reader_threads() == []


def test_serial_worker_runs_calls_in_order_holds_at_most_max_pending_and_reraises() -> None:
    release, done = threading.Event(), []
    with SerialWorker("test-worker", max_pending=2) as worker:
        worker.submit(release.wait, wait=False)  # holds the worker until released
        worker.submit(done.append, 0, wait=False)
        release.set()
        for item in range(1, 20):
            worker.submit(done.append, item)
            assert len(worker._futures) <= 2  # the bound, checked directly
        worker.drain()
        assert done == list(range(20))
        worker.submit(operator.truediv, 1, 0)
        with pytest.raises(ZeroDivisionError):
            worker.drain()


def test_large_membership_shards_live_off_the_heap_with_the_same_values() -> None:
    values = np.sort(mix64(np.arange(membership_module.OFF_HEAP_BYTES // 8 * 2)))
    copy = membership_module._off_heap(values)
    assert isinstance(copy.base.obj, mmap.mmap) and copy.dtype == values.dtype
    assert np.array_equal(copy, values)
    small = values[:10]
    assert membership_module._off_heap(small) is small  # a page of its own would waste memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pyarrow has jemalloc on Linux only")
@pytest.mark.parametrize(("setting", "backend"), [(None, "jemalloc"), ("system", "system")])
def test_prepare_data_loads_pyarrow_with_jemalloc_for_itself_only(setting: str | None, backend: str) -> None:
    """``prepare_data`` loads pyarrow with jemalloc unless ARROW_DEFAULT_MEMORY_POOL says
    otherwise, and leaves that setting as it found it (for the processes it starts)."""
    code = (
        "import os, prepare_data, pyarrow as pa; "
        "print(pa.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if setting is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = setting
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, str(setting)]
