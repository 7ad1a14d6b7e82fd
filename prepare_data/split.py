"""Split a labelled table into train/valid/test by hash buckets of its key."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from common.errors import PipelineError
from common.params import DataParams, SplitParams
from prepare_data.hashing import assign_buckets, concat_key, fingerprint_strings
from prepare_data.labels import LABEL, map_labels
from prepare_data.report import split_report

SPLITS = ("train", "valid", "test")
log = logging.getLogger(__name__)


def split_ranges(params: SplitParams) -> dict[str, tuple[int, int]]:
    return {"train": params.train, "valid": params.valid, "test": params.test}


def bucket_masks(buckets: np.ndarray, ranges: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """A boolean row mask per split: bucket in ``[lo, hi)``; -1 (dropped) is in none."""
    return {name: (buckets >= lo) & (buckets < hi) for name, (lo, hi) in ranges.items()}


def key_strings(table: pa.Table, key: tuple[str, ...]) -> pa.Array | pa.ChunkedArray:
    """The ``CONCAT``-ed key of each row, as BigQuery would build it."""
    return concat_key([table[name] for name in key])


def prepare(
    table: pa.Table, data: DataParams, split: SplitParams, source: str = "input"
) -> tuple[dict[str, pa.Table], dict[str, object]]:
    """Map labels, hash-split, and report. Returns the split tables and ``split.json``."""
    for name, column in [("data.text_column", data.text_column), ("data.label_column", data.label_column)]:
        if column not in table.column_names:
            raise PipelineError(
                f"{source}: column {column!r} ({name}) not found (columns: {', '.join(table.column_names)})"
            )
    for column in split.key:
        if column not in table.column_names:
            raise PipelineError(
                f"{source}: column {column!r} (split.key) not found (columns: {', '.join(table.column_names)})"
            )
    labelled = map_labels(table, data.label_column, data.negative_labels, data.positive_labels)
    if labelled.num_rows == 0:
        raise PipelineError(
            f"{source}: no rows left after label mapping: column {data.label_column!r} has none of "
            f"{list(data.negative_labels)} (data.negative_labels) or {list(data.positive_labels)} "
            "(data.positive_labels)"
        )
    keys = key_strings(labelled, split.key)
    fingerprints, is_null = fingerprint_strings(keys)
    if is_null.all():
        raise PipelineError(f"{source}: split.key {list(split.key)} is NULL in every row")
    if is_null.any():
        log.warning("%d rows have a NULL key and land in no split", int(is_null.sum()))
    buckets = assign_buckets(fingerprints, split.modulus, split.sample)
    buckets[is_null] = -1
    masks = bucket_masks(buckets, split_ranges(split))
    tables = {name: labelled.filter(pa.array(mask)) for name, mask in masks.items()}
    key_values = keys.to_pylist() if isinstance(keys, pa.Array) else keys.combine_chunks().to_pylist()
    report = split_report(
        labels={n: t[LABEL].to_numpy() for n, t in tables.items()},
        keys={n: [k for k, m in zip(key_values, masks[n], strict=True) if m] for n in masks},
        texts={n: t[data.text_column].to_pylist() for n, t in tables.items()},
    )
    report["dropped"] = {
        "label_not_mapped": table.num_rows - labelled.num_rows,
        "null_key": int(is_null.sum()),
        "unassigned": int(labelled.num_rows - is_null.sum() - sum(int(m.sum()) for m in masks.values())),
    }
    for name, part in tables.items():
        if part.num_rows == 0:
            log.warning("split %s is empty", name)
    return tables, report
