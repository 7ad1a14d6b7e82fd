"""FARM_FINGERPRINT, CAST/CONCAT keys and buckets, checked against BigQuery's published values."""

from __future__ import annotations

import datetime

import farmhash
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import PipelineError
from common.params import DataParams, SplitParams
from prepare_data.hashing import (
    assign_buckets,
    bigquery_abs_mod,
    concat_key,
    farm_fingerprints,
    fingerprint_strings,
    key_fingerprints,
    row_json,
)
from prepare_data.split import assign_batch, prepare

INT64 = st.integers(-(2**63), 2**63 - 1)


def farm_fingerprint(value: str) -> int:
    """``FARM_FINGERPRINT`` of one string, through the stage's own function."""
    return int(fingerprint_strings(pa.array([value], pa.string()))[0][0])


def test_published_bigquery_fingerprints() -> None:
    # BigQuery's documentation: FARM_FINGERPRINT("alphabet"), and its CONCAT(CAST(x AS STRING),
    # y, CAST(z AS STRING)) example over (1, "foo", true), (2, "apple", false), (3, "", true).
    assert farm_fingerprint("alphabet") == -2427165924636348523
    table = pa.table({"x": [1, 2, 3], "y": ["foo", "apple", ""], "z": [True, False, True]})
    keys = concat_key([table["x"], table["y"], table["z"]], ["x", "y", "z"])
    assert keys.to_pylist() == ["1footrue", "2applefalse", "3true"]
    fingerprints, is_null = fingerprint_strings(keys)
    assert fingerprints.tolist() == [-1541654101129638711, 2794438866806483259, -4880158226897771312]
    assert not is_null.any()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=40), st.integers(0, 3))
def test_vectorized_fingerprints_equal_farmhash_for_every_length(values: list[bytes], skip: int) -> None:
    # Lengths 0-32 take FarmHash's formulas in numpy (one branch per length class), longer ones
    # the C library; a sliced array checks the offsets.
    strings = pa.array(values, pa.binary()).slice(min(skip, len(values) - 1))
    expected = [farmhash.fingerprint64(v) for v in strings.to_pylist()]
    assert farm_fingerprints(strings).tolist() == expected
    texts = [v.decode("utf-8", "replace") for v in values]
    assert farm_fingerprints(pa.array(texts, pa.large_string())).tolist() == [
        farmhash.fingerprint64(t.encode()) for t in texts
    ]


def test_negative_fingerprint_bucket_uses_bigquery_mod() -> None:
    # MOD(-2427165924636348523, 10) is -3 in BigQuery (the dividend's sign); Python's % says 7.
    fingerprint = np.array([farm_fingerprint("alphabet")], np.int64)
    assert fingerprint[0] % 10 == 7
    assert assign_buckets(fingerprint, 10).tolist() == [3]
    assert bigquery_abs_mod(np.array([-(2**63)], np.int64), 10).tolist() == [8]


def test_cast_as_string_like_bigquery() -> None:
    table = pa.table(
        {
            "i": pa.array([-5, 0, 2**62], pa.int64()),
            "b": [True, False, None],
            "d": pa.array([datetime.date(2021, 3, 4), datetime.date(999, 1, 2), None], pa.date32()),
            "s": ["a", "", None],
        }
    )
    assert concat_key([table["i"]], ["i"]).to_pylist() == ["-5", "0", str(2**62)]
    assert concat_key([table["b"]], ["b"]).to_pylist() == ["true", "false", None]
    assert concat_key([table["d"]], ["d"]).to_pylist() == ["2021-03-04", "0999-01-02", None]
    # Any NULL part makes the CONCAT NULL: that row lands in no split.
    crossed = concat_key([table["s"], table["i"]], ["s", "i"])
    assert crossed.to_pylist() == ["a-5", "0", None]
    assert fingerprint_strings(crossed)[1].tolist() == [False, False, True]


def test_key_of_an_unsupported_type_is_refused() -> None:
    with pytest.raises(PipelineError, match=r"column 'score' \(split.key\) has type double"):
        concat_key([pa.array([1.5])], ["score"])


@settings(max_examples=60, deadline=None)
@given(fingerprints=st.lists(INT64, min_size=1, max_size=50))
def test_sampling_identity_row_by_row(fingerprints: list[int]) -> None:
    # sample 50 with modulus 10: train [0, 8) is exactly ABS(MOD(fp, 50)) = 0 AND ABS(MOD(fp, 500)) < 400.
    values = np.array(fingerprints, np.int64)
    buckets = assign_buckets(values, 10, sample=50)
    for fp, bucket in zip(fingerprints, buckets.tolist(), strict=True):
        # BigQuery's MOD: truncated division, the remainder has the dividend's sign.
        mod50, mod500 = abs(int(np.fmod(fp, 50))), abs(int(np.fmod(fp, 500)))
        assert (0 <= bucket < 8) == (mod50 == 0 and mod500 < 400)
        assert (bucket == -1) == (mod50 != 0)
        if bucket >= 0:
            assert bucket == mod500 // 50


def test_sampling_identity_on_negative_fingerprints_found_by_search() -> None:
    # Keys whose fingerprint is negative and sampled in: the sign rule matters for them.
    keys = [f"key{i}" for i in range(20000)]
    fingerprints = np.array([farm_fingerprint(k) for k in keys], np.int64)
    buckets = assign_buckets(fingerprints, 10, sample=50)
    negative_kept = (fingerprints < 0) & (buckets >= 0)
    assert negative_kept.sum() > 50
    for fp, bucket in zip(fingerprints[negative_kept].tolist(), buckets[negative_kept].tolist(), strict=True):
        assert bucket == abs(-(abs(fp) % 500)) // 50  # truncated MOD of a negative number


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.text(max_size=8), min_size=1, max_size=30), modulus=st.integers(2, 1000))
def test_same_key_same_bucket_whatever_its_neighbours(keys: list[str], modulus: int) -> None:
    fingerprints, _ = fingerprint_strings(pa.array(keys))
    buckets = assign_buckets(fingerprints, modulus)
    alone = [int(assign_buckets(np.array([farm_fingerprint(k)], np.int64), modulus)[0]) for k in keys]
    assert buckets.tolist() == alone
    assert all(0 <= b < modulus for b in alone)


def test_row_json_is_canonical_and_equal_rows_hash_equal() -> None:
    table = pa.table(
        {
            "id": [1, 1, 2],
            "text": ['say "hi"\n', 'say "hi"\n', "é"],
            "day": pa.array([datetime.date(2021, 1, 2)] * 3, pa.date32()),
            "x": [0.5, 0.5, float("nan")],
            "flag": [True, True, None],
        }
    )
    rows = row_json(table).to_pylist()
    assert rows[0] == '{"id":1,"text":"say \\"hi\\"\\n","day":"2021-01-02","x":0.5,"flag":true}'
    assert rows[2] == '{"id":2,"text":"é","day":"2021-01-02","x":"NaN","flag":null}'
    fingerprints, _ = fingerprint_strings(row_json(table))
    assert fingerprints[0] == fingerprints[1] != fingerprints[2]


def test_dictionary_encoded_key_hashes_like_its_values() -> None:
    values = pa.array(["b", "a", "b", None])
    encoded = values.dictionary_encode()
    plain_fp, plain_null = fingerprint_strings(concat_key([values], ["k"]))
    dict_fp, dict_null = fingerprint_strings(concat_key([encoded], ["k"]))
    assert dict_fp.tolist() == plain_fp.tolist()
    assert dict_null.tolist() == plain_null.tolist() == [False, False, False, True]
    # The per-distinct-value path the split uses gives the same.
    assert key_fingerprints([encoded], ["k"])[0].tolist() == plain_fp.tolist()
    assert key_fingerprints([pa.array([7, None, 7])], ["k"])[0].tolist() == [
        farm_fingerprint("7"),
        0,
        farm_fingerprint("7"),
    ]


def test_a_null_in_a_dictionary_key_is_a_null_key() -> None:
    # A dictionary column can hold its null in the dictionary instead of the indices: the
    # key is NULL either way, as in BigQuery, and such a row lands in no split.
    column = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, None, 2]), pa.array(["b", None, "a"]))
    fingerprints, is_null = key_fingerprints([column], ["k"])
    assert is_null.tolist() == [False, True, False, True, False]
    assert fingerprints.tolist() == [
        farm_fingerprint("b"),
        0,
        farm_fingerprint("b"),
        0,
        farm_fingerprint("a"),
    ]
    assert fingerprint_strings(concat_key([column], ["k"]))[1].tolist() == is_null.tolist()
    # The split puts those rows nowhere and counts them (parquet cannot write such a column,
    # so this is the split's per-batch decision, not its files).
    batch = pa.record_batch({"SentenceId": column, "Phrase": list("abcde"), "Sentiment": [0, 4, 4, 0, 4]})
    assignment = assign_batch(batch, DataParams(), SplitParams())
    assert assignment.rows.tolist() == [0, 1, 2, 3, 4]  # every label mapped
    assert (assignment.split_index[[1, 3]] == -1).all() and (assignment.split_index[[0, 2, 4]] >= 0).all()
    assert assignment.dropped["null_key"] == 2


def test_a_date64_key_with_a_time_of_day_is_refused_naming_the_column() -> None:
    midnight = pa.array([datetime.datetime(2021, 3, 4)], pa.date64())
    assert concat_key([midnight], ["day"]).to_pylist() == ["2021-03-04"]
    noon = pa.array([0, 86_400_000 + 43_200_000], pa.date64())  # 1970-01-02 12:00
    with pytest.raises(PipelineError) as error:
        concat_key([noon], ["day"])
    assert str(error.value) == (
        "column 'day' (split.key) is a date64 with a time of day (1970-01-02T12:00:00); "
        "a DATE key has none (cast it to a date or a string in your data)"
    )
    table = pa.table({"day": noon, "Phrase": ["a", "b"], "Sentiment": [0, 4]})
    with pytest.raises(PipelineError, match=r"^input: column 'day' \(split\.key\) is a date64"):
        prepare(table, DataParams(), SplitParams(key=("day",)))
