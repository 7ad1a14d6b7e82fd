"""BigQuery-identical ``FARM_FINGERPRINT`` of keys, and bucket assignment from it.

``FARM_FINGERPRINT`` is FarmHash Fingerprint64 of the UTF-8 bytes, read as a signed INT64.
A key of several columns is ``CONCAT`` of each value ``CAST(x AS STRING)``; any NULL makes
the key NULL, and such rows land in no split. With ``key: []`` the key is the row as
canonical JSON (``row_json``), in the spirit of BigQuery's ``TO_JSON_STRING(t)``.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence

import farmhash
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError

Column = pa.Array | pa.ChunkedArray


# pyarrow's ``pa.array`` and ``Array.to_numpy`` import pandas on their first call (a third of
# a second, more than this stage's own start-up); these conversions use the buffers instead.


def from_numpy(values: np.ndarray) -> pa.Array:
    """A 1-d numpy array of fixed-width numbers as an Arrow array without nulls (zero-copy)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        raise TypeError("from_numpy: booleans are bit-packed in Arrow; cast them first")
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def fill_nulls(array: pa.Array | pa.ChunkedArray, value: object) -> pa.Array | pa.ChunkedArray:
    """``array.fill_null(value)``, skipped when there is no null (it makes a ``pa.scalar``)."""
    return array.fill_null(value) if array.null_count else array


def numpy_bools(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy bools, nulls as False."""
    array = fill_nulls(array, False)
    if len(array) == 0:
        return np.zeros(0, bool)
    bits = np.unpackbits(np.frombuffer(array.buffers()[1], np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].view(bool)


def numpy_integers(array: pa.Array) -> np.ndarray:
    """An integer Arrow array without nulls as a numpy array of the same type (a view)."""
    if array.null_count:
        raise ValueError("numpy_integers: the array has nulls")
    width = array.type.bit_width // 8
    dtype = np.dtype(f"{'i' if pa.types.is_signed_integer(array.type) else 'u'}{width}")
    if len(array) == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * width)


def _castable(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date32(kind)
        or pa.types.is_null(kind)
    )


def bigquery_string(column: Column, name: str = "key") -> Column:
    """``CAST(x AS STRING)``: STRING as is, INT64 in decimal, BOOL as true/false, DATE as
    YYYY-MM-DD (pyarrow's casts of these types print exactly what BigQuery's do).

    Other types are refused: BigQuery's text for FLOAT64 or TIMESTAMP differs from pyarrow's,
    and a key must give the same bucket in both.
    """
    if pa.types.is_dictionary(column.type):  # e.g. a parquet column written from a pandas category
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type):
        return column
    if pa.types.is_date64(column.type):
        column = _date64_as_date32(column, name)
    if not _castable(column.type):
        raise PipelineError(
            f"column {name!r} (split.key) has type {column.type}; a key column must be a string, "
            "an integer, a boolean or a date (cast it in your data, as you would in BigQuery)"
        )
    return pc.cast(column, pa.string())


def _date64_as_date32(column: Column, name: str) -> Column:
    """A date64 column as DATE (date32). A date64 value holds milliseconds; one that is not at
    midnight has a time of day, which a BigQuery DATE cannot hold: that is bad input."""
    try:
        return pc.cast(column, pa.date32())
    except pa.ArrowInvalid:
        days = pc.cast(column, pa.date32(), safe=False)
        row = pc.index(pc.not_equal(pc.cast(days, pa.date64()), column), True).as_py()
        millis = pc.cast(column, pa.int64())[row].as_py()
        when = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=millis)
        raise PipelineError(
            f"column {name!r} (split.key) is a date64 with a time of day ({when.isoformat()}); "
            "a DATE key has none (cast it to a date or a string in your data)"
        ) from None


def concat_key(columns: Sequence[Column], names: Sequence[str] | None = None) -> Column:
    """``CONCAT`` of the key columns as strings, no separator; NULL if any part is NULL."""
    names = list(names) if names is not None else [f"#{i}" for i in range(len(columns))]
    strings = [bigquery_string(c, n) for c, n in zip(columns, names, strict=True)]
    if len(strings) == 1:
        return strings[0]
    return pc.binary_join_element_wise(*strings, "", null_handling="emit_null")


def key_fingerprints(columns: Sequence[Column], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``FARM_FINGERPRINT(CONCAT(CAST(...)))`` of each row (int64) and its null mask.

    A single key column is dictionary-encoded first: its distinct values (a sentence id
    repeats for each of its phrases) are cast and hashed once, not once per row.
    """
    if len(columns) == 1:
        encoded = _dictionary(columns[0])
        return _fingerprints_by_value(encoded, bigquery_string(encoded.dictionary, names[0]))
    return fingerprint_strings(concat_key(columns, names))


def fingerprint_strings(keys: Column) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints (int64) of a string array and its null mask (fingerprint 0 where null).

    Keys repeat (many phrases share a sentence), so each distinct key is hashed once.
    """
    encoded = _dictionary(keys)
    return _fingerprints_by_value(encoded, encoded.dictionary)


def _dictionary(column: Column) -> pa.DictionaryArray:
    """The column dictionary-encoded (a dictionary column as it is, its dictionary unchanged)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return pc.dictionary_encode(column)


def _fingerprints_by_value(encoded: pa.DictionaryArray, distinct: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints (int64) of each row of ``encoded`` and its null mask, given its dictionary
    as strings (``distinct``), each hashed once. A row is NULL where its index is null or
    where it points at a null in the dictionary (a dictionary column can hold one there):
    its fingerprint is 0 and, as in BigQuery, its key NULL."""
    is_null = numpy_bools(encoded.indices.is_null())
    indices = numpy_integers(fill_nulls(encoded.indices, 0))
    if not len(distinct):  # every row null
        return np.zeros(len(encoded), np.int64), is_null
    fingerprints = farm_fingerprints(fill_nulls(distinct, "")).view(np.int64)[indices]
    if distinct.null_count:
        is_null |= numpy_bools(distinct.is_null())[indices]
    fingerprints[is_null] = 0
    return fingerprints, is_null


def farm_fingerprints(strings: pa.Array) -> np.ndarray:
    """FarmHash Fingerprint64 (uint64) of each value of a string or binary array without nulls:
    the C library's (pyfarmhash) call per value. The split hashes each distinct key once; with
    all-distinct keys (``split.key: [PhraseId]``) at 1M rows the stage stays within the same
    ratio to the I/O floor as with a numpy port of the hash (``benchmarks/prepare_data.py``)."""
    large = pa.types.is_large_string(strings.type) or pa.types.is_large_binary(strings.type)
    values = strings.cast(pa.large_binary() if large else pa.binary()).to_pylist()
    return np.fromiter(map(farmhash.fingerprint64, values), np.uint64, len(values))


def _json_value(value: object) -> object:
    """A value as ``TO_JSON_STRING`` spells it: dates and times as ISO strings, NaN and
    infinities as the strings BigQuery uses."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.timedelta | np.generic):
        return str(value)
    return value


def row_json(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """Each row as canonical JSON: ``{"col":value,...}`` in column order, no spaces, UTF-8
    (not ``\\u``-escaped). Equal rows give equal strings, so duplicates share a bucket."""
    names = table.schema.names
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    rows = [
        dumps(dict(zip(names, [_json_value(v) for v in values], strict=True)))
        for values in zip(*columns, strict=True)
    ]
    return pa.array(rows, pa.string())


def bigquery_abs_mod(values: np.ndarray, modulus: int) -> np.ndarray:
    """``ABS(MOD(values, modulus))`` with BigQuery's MOD: the remainder takes the dividend's sign."""
    return np.abs(np.fmod(values, np.int64(modulus)))


def assign_buckets(fingerprints: np.ndarray, modulus: int, sample: int = 1) -> np.ndarray:
    """Bucket of each fingerprint in ``[0, modulus)``, or -1 where sampling drops the row.

    With ``sample`` S > 1 a row is kept iff ``ABS(MOD(fp, S)) = 0`` and its bucket is
    ``ABS(MOD(fp, S * modulus)) DIV S``.
    """
    if sample == 1:
        return bigquery_abs_mod(fingerprints, modulus)
    kept = bigquery_abs_mod(fingerprints, sample) == 0
    buckets = bigquery_abs_mod(fingerprints, sample * modulus) // sample
    return np.where(kept, buckets, -1)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a fast bijective scramble of 64-bit integers (as uint64).

    Used where a value must become a well-spread 64-bit hash without a Python call per row:
    the random-split contrast (row numbers) and the sequential split's time keys.
    """
    z = values.astype(np.uint64, copy=True)
    shifted = np.empty_like(z)  # computed in place: one temporary of the values' size
    z += np.uint64(0x9E3779B97F4A7C15)
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(z, np.uint64(shift), out=shifted)
        z ^= shifted
        z *= np.uint64(multiplier)
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    return z
