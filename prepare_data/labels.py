"""Map raw labels to 0/1 and drop rows with any other label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def label_mask(
    column: pa.ChunkedArray | pa.Array, negative: Sequence[int | str], positive: Sequence[int | str]
) -> tuple[pa.Array, pa.Array]:
    """Boolean masks (negative, positive) over ``column``; null labels are in neither."""
    is_negative = fill_nulls(pc.is_in(column, value_set=_as_column_type(negative, column)), False)
    is_positive = fill_nulls(pc.is_in(column, value_set=_as_column_type(positive, column)), False)
    return is_negative, is_positive


def map_labels(
    table: pa.Table, label_column: str, negative: Sequence[int | str], positive: Sequence[int | str]
) -> pa.Table:
    """Keep rows whose label is negative or positive, adding ``label`` (int8, 0 or 1)."""
    is_negative, is_positive = label_mask(table[label_column], negative, positive)
    keep = pc.or_(is_negative, is_positive)
    kept = table.filter(keep)
    label = pc.cast(pc.filter(is_positive, keep), pa.int8())
    if LABEL in kept.column_names:
        kept = kept.drop_columns([LABEL])
    return kept.append_column(LABEL, label)
