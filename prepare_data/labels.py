"""Map raw labels to 0/1 and drop rows with any other label."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError
from prepare_data.hashing import fill_nulls, from_numpy

LABEL = "label"


def _as_column_type(values: Sequence[int | str], column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Params labels in the column's type: ``[4]`` matches an int column and a string one.

    Built from buffers where it can: ``pa.array`` imports pandas on its first call."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = [str(v).encode() for v in values]
        width = np.int64 if pa.types.is_large_string(column.type) else np.int32
        offsets = np.cumsum([0, *map(len, encoded)]).astype(width)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(column.type, len(encoded), buffers)
    if values and all(type(v) is int and -(1 << 63) <= v < 1 << 63 for v in values):
        return from_numpy(np.array(values, np.int64)).cast(column.type)
    return pa.array(values).cast(column.type)


_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


def value_set(
    values: Sequence[int | str], column: pa.ChunkedArray | pa.Array, name: str, key: str
) -> pa.Array:
    """``_as_column_type``, failing with one line that names ``key`` and the value that does
    not fit the column's type (``negative_labels: [neg]`` on an integer column)."""
    try:
        return _as_column_type(values, column)
    except _CAST_ERRORS:
        pass
    parts = []  # one by one: ``[0, "1"]`` on a float column fits only value by value
    for value in values:
        try:
            parts.append(_as_column_type([value], column))
        except _CAST_ERRORS:
            raise PipelineError(
                f"data.{key}: {value!r} cannot be compared with column {name!r} "
                f"(data.label_column) of type {column.type}"
            ) from None
    return pa.concat_arrays(parts)


@functools.lru_cache(maxsize=64)
def _typed_value_set(values: tuple[int | str, ...], kind: pa.DataType, name: str, key: str) -> pa.Array:
    """``value_set`` for a column of type ``kind``, built once per stream, not per batch: on
    every batch it was 1.8% of the stage's samples at 10M rows (py-spy), its small calls
    waiting for the GIL that the stage's other threads hold."""
    return value_set(values, pa.nulls(0, kind), name, key)


def label_mask(
    column: pa.ChunkedArray | pa.Array,
    negative: Sequence[int | str],
    positive: Sequence[int | str],
    name: str = "label",
) -> tuple[pa.Array, pa.Array]:
    """Boolean masks (negative, positive) over ``column`` (named ``name``, for errors); null
    labels are in neither. A dictionary column (a pandas category) is compared by its values."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    negative_set = _typed_value_set(tuple(negative), column.type, name, "negative_labels")
    positive_set = _typed_value_set(tuple(positive), column.type, name, "positive_labels")
    return fill_nulls(_is_in(column, negative_set), False), fill_nulls(_is_in(column, positive_set), False)


def _is_in(column: pa.ChunkedArray | pa.Array, values: pa.Array) -> pa.ChunkedArray | pa.Array:
    """``pc.is_in``; for a few values, as comparisons: ``is_in`` builds a hash table of the
    values on every call, which took 20 times as long as one comparison for a batch of 80k rows."""
    if not 0 < len(values) <= 4:
        return pc.is_in(column, value_set=values)
    mask = pc.equal(column, values[0])
    for value in values[1:]:
        mask = pc.or_(mask, pc.equal(column, value))
    return mask
