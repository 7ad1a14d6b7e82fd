"""BigQuery-identical ``FARM_FINGERPRINT`` of keys, and bucket assignment from it.

``FARM_FINGERPRINT`` is FarmHash Fingerprint64 of the UTF-8 bytes, read as a signed INT64.
A key of several columns is ``CONCAT`` of each value ``CAST(x AS STRING)``; any NULL makes
the key NULL, and such rows land in no split.
"""

from __future__ import annotations

from collections.abc import Sequence

import farmhash
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def farm_fingerprint(value: str | bytes) -> int:
    """``FARM_FINGERPRINT(value)`` exactly as BigQuery computes it (signed INT64)."""
    unsigned = farmhash.fingerprint64(value)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def bigquery_string(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``CAST(x AS STRING)``: INT64 in decimal, BOOL as true/false, DATE as YYYY-MM-DD."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


def concat_key(columns: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array | pa.ChunkedArray:
    """``CONCAT`` of the key columns as strings, no separator; NULL if any part is NULL."""
    strings = [bigquery_string(c) for c in columns]
    if len(strings) == 1:
        return strings[0]
    return pc.binary_join_element_wise(*strings, "", null_handling="emit_null")


def fingerprint_strings(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints (int64) of a string array and its null mask (fingerprint 0 where null).

    Keys repeat (many phrases share a sentence), so each distinct key is hashed once.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    encoded = pc.dictionary_encode(keys)
    distinct = encoded.dictionary.to_pylist()
    distinct_fp = np.fromiter(
        (farmhash.fingerprint64(s) for s in distinct), dtype=np.uint64, count=len(distinct)
    ).view(np.int64)
    is_null = encoded.indices.is_null().to_numpy(zero_copy_only=False)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    fingerprints = distinct_fp[indices] if len(distinct) else np.zeros(len(keys), dtype=np.int64)
    fingerprints[is_null] = 0
    return fingerprints, is_null


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
