"""The sequential split for time series: a part of each row's time picks its split.

``split.time_part`` names the part (``day_of_month`` 1-31, ``day_of_week`` 1-7 from Monday,
``day_of_year`` 1-366, ``month`` 1-12, ``hour`` 0-23, ``year``) and ``split.train`` /
``valid`` / ``test`` are ``[lo, hi)`` ranges of it. The article's example, days 1-20 of each
month for train, 21-25 for valid and the rest for test, is ``time_part: day_of_month``,
``train: [1, 21]``, ``valid: [21, 26]``, ``test: [26, 32]``: every split gets a contiguous
block of days in every month, and no day is in two splits.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError

_NAIVE = pa.timestamp("us")
_UTC = pa.timestamp("us", tz="UTC")


def _parses(value: str) -> bool:
    for kind in (_NAIVE, _UTC):
        try:
            pc.cast(pa.array([value]), kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return True
    return False


def parse_times(
    column: pa.Array, name: str, source: str, first_row: int = 1, kind: pa.DataType | None = None
) -> pa.Array:
    """The column as timestamps: dates and timestamps as they are, strings parsed as ISO 8601
    (``2021-03-04``, ``2021-03-04 10:00:00``; with a zone offset, converted to UTC).

    An unparseable string fails naming its row (``first_row`` is the row number of the
    column's first value in the input, 1-based, header not counted) and value. ``kind``: the
    timestamp type earlier batches of the column gave, if any; a batch that gives the other
    one (times with a zone offset after times without, or the reverse) fails, so that a file
    never mixes local and UTC times, whatever its batches.
    """
    times = _parse(column, name, source, first_row, kind)
    if kind is not None and times.type != kind and times.null_count < len(times):
        row = first_row + pc.index(pc.is_valid(times), True).as_py()
        zoned = times.type.tz is not None
        raise PipelineError(
            f"{source}: column {name!r} (split.time_column) row {row}: a time "
            f"{'with' if zoned else 'without'} a zone offset after times {'without' if zoned else 'with'} "
            "one; use one kind in the whole column"
        )
    return times


def _parse(column: pa.Array, name: str, source: str, first_row: int, kind: pa.DataType | None) -> pa.Array:
    kind_of_column = column.type
    if pa.types.is_timestamp(kind_of_column):
        return column
    if pa.types.is_date(kind_of_column):
        return pc.cast(column, _NAIVE)
    if pa.types.is_null(kind_of_column):
        return pc.cast(column, kind if kind is not None else _NAIVE)
    if not (pa.types.is_string(kind_of_column) or pa.types.is_large_string(kind_of_column)):
        raise PipelineError(
            f"{source}: column {name!r} (split.time_column) has type {kind_of_column}; "
            "expected dates, timestamps or ISO 8601 strings"
        )
    if column.null_count == len(column):  # nothing to parse: the kind of the rest
        return pc.cast(column, kind if kind is not None else _NAIVE)
    for target in (_NAIVE, _UTC):
        try:
            return pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    # Mixed naive and zoned strings, or a bad one: find the first bad one, to name it.
    values = column.to_pylist()
    bad = next((i for i, v in enumerate(values) if v is not None and not _parses(v)), None)
    if bad is None:
        raise PipelineError(
            f"{source}: column {name!r} (split.time_column) mixes times with and without a zone offset"
        )
    raise PipelineError(
        f"{source}: column {name!r} (split.time_column) row {first_row + bad}: "
        f"cannot parse {values[bad]!r} as a date or time (expected ISO 8601, e.g. 2021-03-04)"
    )


def time_part(times: pa.Array, part: str) -> pa.Array:
    """The ``part`` of each timestamp (null where the time is null)."""
    if part == "day_of_month":
        return pc.day(times)
    if part == "day_of_week":
        return pc.day_of_week(times, count_from_zero=False, week_start=1)
    if part == "day_of_year":
        return pc.day_of_year(times)
    if part == "month":
        return pc.month(times)
    if part == "hour":
        return pc.hour(times)
    if part == "year":
        return pc.year(times)
    raise ValueError(f"unknown time part {part!r}")


class TimeColumn:
    """``split.time_column`` read batch by batch: the first batch with a time fixes the kind
    of timestamp (without or with a zone, or the column's own type), and every later batch
    must give the same, so the split does not depend on where batches begin."""

    def __init__(self, name: str, part: str, source: str) -> None:
        self.name, self.part, self.source = name, part, source
        self.kind: pa.DataType | None = None

    def positions(self, column: pa.Array, first_row: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position int64, is_null, 64-bit key of the time) of each row of one batch
        (``first_row``: its first row's number).

        The key (the time itself, as an integer in its unit) is what the report counts as
        distinct keys and checks for leakage: one time is always in one split."""
        times = parse_times(column, self.name, self.source, first_row, self.kind)
        if self.kind is None and times.null_count < len(times):
            self.kind = times.type
        return time_positions(times, self.part)


def time_positions(times: pa.Array, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    is_null = times.is_null().to_numpy(zero_copy_only=False)
    positions = time_part(times, part).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    keys = pc.cast(times, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return positions, is_null, keys
