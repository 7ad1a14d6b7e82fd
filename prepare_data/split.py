"""Split labelled rows into train/valid/test, batch by batch, and report on the split.

One code path for every input size: ``split_stream`` takes record batches (a file's, or one
batch holding a whole in-memory table) and writes each split through a ``SplitWriter``, so the
streaming and in-memory paths give the same bytes. Rows keep their input order in each split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.data_columns import check_text_type
from common.errors import PipelineError
from common.params import DataParams, SplitParams
from prepare_data.hashing import (
    assign_buckets,
    bigquery_string,
    fingerprint_strings,
    from_numpy,
    key_fingerprints,
    mix64,
    numpy_bools,
    row_json,
)
from prepare_data.labels import LABEL, label_mask
from prepare_data.report import SPLITS, SplitReport, SplitStats, check_report
from prepare_data.sequential import TimeColumn
from prepare_data.stream import ROW_GROUP_ROWS, BackgroundWriters, SerialWorker, Sink

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BatchAssignment:
    """Where each row of a batch with a mapped label goes (the other rows go nowhere)."""

    rows: np.ndarray  # int64: the rows with a mapped label, in input order
    split_index: np.ndarray  # int8 per such row: 0 train, 1 valid, 2 test, -1 no split
    is_positive: np.ndarray  # bool per such row: label 1
    keys: np.ndarray  # int64 per such row: its key as a 64-bit hash (the fingerprint for a hash split)
    dropped: dict[str, int]


def check_columns(schema: pa.Schema, data: DataParams, split: SplitParams, source: str) -> None:
    """Fail naming the first column (and its params key) the settings need but the input lacks."""
    needed = [(data.text_column, "data.text_column"), (data.label_column, "data.label_column")]
    if split.method == "hash":
        needed += [(name, "split.key") for name in split.key]
    else:
        needed.append((split.time_column, "split.time_column"))
    for column, key in needed:
        if column not in schema.names:
            raise PipelineError(
                f"{source}: column {column!r} ({key}) not found (columns: {', '.join(schema.names)})"
            )
    check_text_type(schema, data.text_column, "data.text_column", source)
    if split.method == "hash":
        for name in split.key:
            try:
                bigquery_string(pa.nulls(0, schema.field(name).type), name)
            except PipelineError as error:
                raise PipelineError(f"{source}: {error}") from None


def hash_keys(batch: pa.RecordBatch, rows: np.ndarray, key: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(FARM_FINGERPRINT of the key, is_null) of rows ``rows`` of ``batch`` (those with a mapped
    label: the others land in no split). With no key columns the key is the row as canonical
    JSON, which is not NULL."""
    if key and len(rows) == batch.num_rows:
        return key_fingerprints([batch.column(name) for name in key], key)
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, bool)
    indices = from_numpy(rows)
    if key:
        return key_fingerprints([batch.column(name).take(indices) for name in key], key)
    fingerprints, _ = fingerprint_strings(row_json(batch.take(indices)))
    return fingerprints, np.zeros(len(rows), bool)


def assign_batch(
    batch: pa.RecordBatch,
    data: DataParams,
    split: SplitParams,
    source: str = "input",
    first_row: int = 1,
    times: TimeColumn | None = None,
) -> BatchAssignment:
    """Label, key and split of each row of ``batch`` (``first_row``: its first row's number).

    ``times``: the sequential split's time column as read so far (the first batch fixes its kind
    of timestamp for the rest); a fresh one when not given. Only rows with a mapped label are
    keyed and split: the others (most rows of the default data) cost no hashing."""
    try:
        is_negative, is_positive = label_mask(
            batch.column(data.label_column), data.negative_labels, data.positive_labels, data.label_column
        )
    except PipelineError as error:
        raise PipelineError(f"{source}: {error}") from None
    is_positive = numpy_bools(is_positive)
    mapped = numpy_bools(is_negative) | is_positive
    label_not_mapped = batch.num_rows - int(np.count_nonzero(mapped))
    # A row with no text (NULL, as parquet and JSON can hold) cannot be trained on or scored.
    texts = batch.column(data.text_column)
    null_text = 0
    if texts.null_count:
        has_text = numpy_bools(texts.is_valid())
        null_text = int(np.count_nonzero(mapped & ~has_text))
        mapped &= has_text
    rows = np.flatnonzero(mapped)
    if split.method == "hash":
        try:
            keys, is_null = hash_keys(batch, rows, split.key)
        except PipelineError as error:
            raise PipelineError(f"{source}: {error}") from None
        buckets = assign_buckets(keys, split.modulus, split.sample)
    else:
        if times is None:
            times = TimeColumn(split.time_column, split.time_part, source)
        # Every row's time is parsed, so that an unparseable one is named by its row number.
        buckets, is_null, time_keys = times.positions(batch.column(split.time_column), first_row)
        buckets, is_null = buckets[rows], is_null[rows]
        keys = mix64(time_keys[rows]).view(np.int64)
    split_index = np.full(len(rows), -1, np.int8)
    for index, (lo, hi) in enumerate(split.ranges().values()):
        split_index[(buckets >= lo) & (buckets < hi)] = index
    split_index[is_null] = -1
    not_sampled = ~is_null & (buckets < 0) if split.method == "hash" else np.zeros(len(rows), bool)
    dropped = {
        "label_not_mapped": label_not_mapped,
        "null_text": null_text,
        "null_key": int(np.count_nonzero(is_null)),
        "not_sampled": int(np.count_nonzero(not_sampled)),
        "unassigned": int(np.count_nonzero(~is_null & ~not_sampled & (split_index < 0))),
    }
    return BatchAssignment(rows, split_index, is_positive[rows], keys, dropped)


def output_schema(schema: pa.Schema) -> pa.Schema:
    """Every input column, then ``label`` (int8); an input ``label`` column is replaced."""
    fields = [f for f in schema if f.name != LABEL]
    return pa.schema([*fields, pa.field(LABEL, pa.int8())])


def split_stream(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    data: DataParams,
    split: SplitParams,
    sinks: Mapping[str, Sink],
    source: str = "input",
    row_group_rows: int = ROW_GROUP_ROWS,
    stats: SplitStats | None = None,
) -> SplitReport:
    """Split ``batches`` into the parquet ``sinks`` (one per split); return the report.

    ``stats``: where to accumulate the report's figures, for a caller that wants more of
    them than the report (its plot data); a fresh ``SplitStats`` by default.

    On any error the sinks are left half-written: write them to temp files
    (``common.atomic.atomic_outputs``) so that nothing half-written is kept.
    """
    stats = stats if stats is not None else SplitStats(split)
    times = TimeColumn(split.time_column, split.time_part, source)
    rows_read = 0
    # Left in reverse order, error or not: the report's worker stopped, the files closed (or
    # after an error discarded), the input closed (a reading thread stopped now, not at exit).
    with contextlib.ExitStack() as stack:
        stack.callback(_close_input, batches)
        check_columns(schema, data, split, source)
        out_schema = output_schema(schema)
        input_columns = [name for name in out_schema.names if name != LABEL]
        # The labels are the columns with few distinct values, where a dictionary pays.
        dictionary_columns = [name for name in (data.label_column, LABEL) if name in out_schema.names]
        writers = stack.enter_context(
            BackgroundWriters(
                dict(sinks), out_schema, row_group_rows, dictionary_columns, text_columns=[data.text_column]
            )
        )
        # The report's figures (text normalizing and hashing, the leakage sets) are accumulated
        # on a thread of their own, beside this one's splitting and the writers' encoding.
        stats_worker = stack.enter_context(SerialWorker("split-stats"))
        has_text = False
        for batch in batches:
            assignment = assign_batch(batch, data, split, source, rows_read + 1, times)
            rows_read += batch.num_rows
            for name, count in assignment.dropped.items():
                stats.dropped[name] += count
            kept = np.flatnonzero(assignment.split_index >= 0)  # of the mapped rows
            # Rows grouped by split, input order kept within each.
            ranks = np.argsort(assignment.split_index[kept], kind="stable")  # ranks in input order
            grouped = kept[ranks]
            order = assignment.rows[grouped]  # the batch's row numbers
            split_index = assignment.split_index[grouped]
            labels = assignment.is_positive[grouped].astype(np.int8)
            # The report first: queueing the writes may wait for a writer to finish a row group.
            texts = batch.column(data.text_column)
            has_text = has_text or _has_text(texts)
            stats_worker.submit(
                _add_stats, stats, split_index, labels, assignment.keys[grouped], texts, order, ranks
            )
            inputs = batch.select(input_columns)
            start = 0
            for index, count in enumerate(np.bincount(split_index, minlength=len(SPLITS)).tolist()):
                # One take per split, not slices of one take: a writer buffers up to a row
                # group of its split, and a slice would keep its whole batch alive. The takes
                # run on the writers' threads, off this one's critical path.
                rows = slice(start, start + count)
                writers.write(
                    SPLITS[index],
                    functools.partial(_split_part, inputs, order[rows], labels[rows], out_schema),
                )
                start += count
        if not has_text:
            raise PipelineError(
                f"{source}: column {data.text_column!r} (data.text_column) is empty or NULL in every row"
            )
        writers.start_closing()  # the last row groups are written while the report is finished
        stats_worker.drain()
        report = finish_report(stats, data, split, rows_read, source)
    return report


def _close_input(batches: Iterable[pa.RecordBatch]) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _has_text(texts: pa.Array) -> bool:
    """Whether any text of the batch is neither null nor empty."""
    if pa.types.is_null(texts.type) or texts.null_count == len(texts):
        return False
    longest = pc.max(pc.binary_length(texts)).as_py()
    return bool(longest)


def _split_part(inputs: pa.RecordBatch, rows: np.ndarray, labels: np.ndarray, schema: pa.Schema) -> pa.Table:
    """Rows ``rows`` of ``inputs`` with their ``label`` column, as a table of ``schema``."""
    columns = [*inputs.take(from_numpy(rows)).columns, from_numpy(labels)]
    return pa.Table.from_batches([pa.RecordBatch.from_arrays(columns, schema=schema)])


def _add_stats(
    stats: SplitStats,
    split_index: np.ndarray,
    labels: np.ndarray,
    keys: np.ndarray,
    texts: pa.Array,
    order: np.ndarray,
    ranks: np.ndarray,
) -> None:
    stats.add(split_index, labels, keys, pc.take(texts, from_numpy(order)), ranks)


def check_rows_left(
    dropped: dict[str, int], rows_read: int, data: DataParams, split: SplitParams, source: str
) -> None:
    """Fail, naming the params at fault, when label mapping, NULL texts or NULL keys left no
    usable row."""
    if dropped["label_not_mapped"] == rows_read:
        raise PipelineError(
            f"{source}: no rows left after label mapping: column {data.label_column!r} has none of "
            f"{list(data.negative_labels)} (data.negative_labels) or {list(data.positive_labels)} "
            "(data.positive_labels)"
        )
    with_label = rows_read - dropped["label_not_mapped"]
    if dropped["null_text"] == with_label:
        raise PipelineError(
            f"{source}: column {data.text_column!r} (data.text_column) is NULL in every row with a label"
        )
    if dropped["null_key"] == with_label - dropped["null_text"]:
        what = (
            f"split.time_column {split.time_column!r}"
            if split.method == "sequential"
            else f"split.key {list(split.key)}"
        )
        raise PipelineError(f"{source}: {what} is NULL in every row")


def finish_report(
    stats: SplitStats, data: DataParams, split: SplitParams, rows_read: int, source: str
) -> SplitReport:
    """The report with its warnings; fails on input that left no usable rows."""
    check_rows_left(stats.dropped, rows_read, data, split, source)
    report = stats.report()
    report["warnings"] = check_report(report, split, source)
    return report


def prepare(
    table: pa.Table,
    data: DataParams,
    split: SplitParams,
    source: str = "input",
    row_group_rows: int = ROW_GROUP_ROWS,
) -> tuple[dict[str, pa.Table], SplitReport]:
    """The in-memory path: ``split_stream`` fed the whole table as one batch. Returns the split
    tables (as written and read back) and the report."""
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    batches = table.combine_chunks().to_batches()
    report = split_stream(table.schema, batches, data, split, sinks, source, row_group_rows)
    tables = {name: pq.read_table(pa.BufferReader(sink.getvalue())) for name, sink in sinks.items()}
    return tables, report
