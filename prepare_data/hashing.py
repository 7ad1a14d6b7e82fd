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
from typing import TypeAlias

import farmhash
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError

Column: TypeAlias = pa.Array | pa.ChunkedArray


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


# FarmHash's constants, and its Fingerprint64 (farmhashna::Hash64) for values of up to 32
# bytes, written for numpy arrays: each function is the C one of the same name, applied to
# every value at once (uint64 arithmetic wraps as in C).
_K0, _K1, _K2 = np.uint64(0xC3A5C85C97CB3127), np.uint64(0xB492B66FBE98F273), np.uint64(0x9AE16A3B2F90404F)


def _rotate(value: np.ndarray, shift: int) -> np.ndarray:
    return (value >> np.uint64(shift)) | (value << np.uint64(64 - shift))


def _shift_mix(value: np.ndarray) -> np.ndarray:
    return value ^ (value >> np.uint64(47))


def _hash_len_16(u: np.ndarray, v: np.ndarray, mul: np.ndarray) -> np.ndarray:
    a = _shift_mix((u ^ v) * mul)
    return _shift_mix((v ^ a) * mul) * mul


def farm_fingerprints(strings: pa.Array) -> np.ndarray:
    """FarmHash Fingerprint64 (uint64) of each value of a string or binary array without nulls.

    Values of up to 32 bytes (ids, dates, most keys) are hashed in numpy, all at once, by
    FarmHash's formulas for those lengths; longer values take the C library's call
    (pyfarmhash). Measured with ``benchmarks/prepare_data.py`` at 1M rows (15 interleaved runs,
    shared 2-core machine): with all-distinct keys (``split.key: [PhraseId]``) the C call for
    every key made the stage 13% slower (median 0.461 against 0.408 s; ours/floor 2.72x
    against 2.41x), over the 5% a change may cost.
    """
    padded, starts, lengths = string_buffer(strings)
    fingerprints = np.empty(len(strings), np.uint64)
    load64, load32 = unaligned_loads(padded, 8), unaligned_loads(padded, 4)
    sizes = lengths.astype(np.uint64)
    muls = _K2 + sizes * np.uint64(2)
    fingerprints[lengths == 0] = _K2

    rows = np.flatnonzero((lengths > 0) & (lengths < 4))
    s, n = starts[rows], lengths[rows]
    y = padded[s].astype(np.uint64) + (padded[s + (n >> 1)].astype(np.uint64) << np.uint64(8))
    z = sizes[rows] + (padded[s + n - 1].astype(np.uint64) << np.uint64(2))
    fingerprints[rows] = _shift_mix(y * _K2 ^ z * _K0) * _K2

    rows = np.flatnonzero((lengths >= 4) & (lengths < 8))
    s, n = starts[rows], lengths[rows]
    a = load32[s].astype(np.uint64)
    fingerprints[rows] = _hash_len_16(
        sizes[rows] + (a << np.uint64(3)), load32[s + n - 4].astype(np.uint64), muls[rows]
    )

    rows = np.flatnonzero((lengths >= 8) & (lengths <= 16))
    s, n, mul = starts[rows], lengths[rows], muls[rows]
    a, b = load64[s] + _K2, load64[s + n - 8]
    fingerprints[rows] = _hash_len_16(_rotate(b, 37) * mul + a, (_rotate(a, 25) + b) * mul, mul)

    rows = np.flatnonzero((lengths > 16) & (lengths <= 32))
    s, n, mul = starts[rows], lengths[rows], muls[rows]
    a, b = load64[s] * _K1, load64[s + 8]
    c, d = load64[s + n - 8] * mul, load64[s + n - 16] * _K2
    fingerprints[rows] = _hash_len_16(
        _rotate(a + b, 43) + _rotate(c, 30) + d, a + _rotate(b + _K2, 18) + c, mul
    )

    rows = np.flatnonzero(lengths > 32)
    if len(rows):
        values = strings.take(from_numpy(rows)).cast(pa.binary()).to_pylist()
        fingerprints[rows] = np.fromiter(map(farmhash.fingerprint64, values), np.uint64, len(rows))
    return fingerprints


def string_buffer(strings: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the values' bytes followed by 8 zero bytes, each value's start in them, its length)
    of a string or binary array, for numpy code that reads values a word at a time (a word
    may run past the end of the last value)."""
    if pa.types.is_large_string(strings.type) or pa.types.is_large_binary(strings.type):
        strings = strings.cast(pa.binary())
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    padded = np.zeros(offsets[-1] - offsets[0] + 8, np.uint8)
    if strings.buffers()[2] is not None:
        padded[:-8] = np.frombuffer(strings.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return padded, (offsets[:-1] - offsets[0]).astype(np.int64), np.diff(offsets).astype(np.int64)


def unaligned_loads(data: np.ndarray, width: int) -> np.ndarray:
    """A view of the bytes ``data`` with an item per byte offset: the ``width`` (4 or 8) bytes
    from there as a little-endian unsigned integer. Indexing it loads words at any offset."""
    rows = np.lib.stride_tricks.as_strided(data, (len(data) - width + 1, width), (1, 1))
    return rows.view(f"<u{width}")[:, 0]


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
    return mix64_inplace(values.astype(np.uint64, copy=True))


def mix64_inplace(z: np.ndarray) -> np.ndarray:
    """``mix64`` of a uint64 array, computed in place (one temporary of its size)."""
    shifted = np.empty_like(z)
    z += np.uint64(0x9E3779B97F4A7C15)
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(z, np.uint64(shift), out=shifted)
        z ^= shifted
        z *= np.uint64(multiplier)
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    return z
