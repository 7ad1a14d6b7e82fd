"""Score a table with a model and write keyed predictions, one batch at a time.

Each output row is the input row's key columns, unchanged and in input order (with no key
columns: ``row``, the row's number in the input, from 0), plus
``score`` (the model's score: a probability, or an SVM margin), ``label`` (0/1) and
``prediction`` (``negative``/``positive``). CSV and TSV come from ``common.tables.read_whole``
(chunks parsed on a background thread, read again if a later value needs a wider type),
parquet one row group after another (``read_batches``); output batches go to one parquet file; so memory is a
few batches whatever the table's size. The output is written to a temp file and renamed only
when every row was scored and no key was NULL or repeated.

With ``workers`` > 1, batches after the first are scored in that many worker processes (the
model is a Python-bound ``CountVectorizer``: threads would share one core), at most two per
worker in flight, and written in input order. That pays only with idle cores: on the shared
2-core machine this was measured on, one process was as fast or faster (docs/serving.md).
Each worker gets the model folder's bytes that this process read and checked, and checks
them again before loading them.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import multiprocessing.pool
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from common.atomic import atomic_outputs
from common.data_columns import check_text_type
from common.errors import PipelineError
from common.tables import PARQUET_BATCH_ROWS, BatchReader, check_input_file, read_whole, unreadable
from predict import worker
from predict.keys import DuplicateKeyCheck, key_hashes
from train.model_store import Scorer, read_trusted_model, scorer_from_files

log = logging.getLogger(__name__)
LABEL_NAMES = pa.array(["negative", "positive"])
SCORE_COLUMNS = ("score", "label", "prediction")
ROW_KEY = "row"  # the key written when no key columns are named: every file has row numbers


@dataclass(frozen=True)
class PredictionSummary:
    rows: int
    positives: int


def scored_batch(keys: pa.Table, scores: np.ndarray, labels: np.ndarray) -> pa.RecordBatch:
    """``keys`` with ``score``, ``label`` and ``prediction`` added."""
    predictions = pa.DictionaryArray.from_arrays(pa.array(labels, pa.int8()), LABEL_NAMES)
    columns = [
        *keys.columns,
        pa.array(np.asarray(scores, dtype=np.float64)),
        pa.array(labels, pa.int8()),
        predictions,
    ]
    names = [*keys.column_names, *SCORE_COLUMNS]
    return pa.Table.from_arrays(columns, names=names).combine_chunks().to_batches()[0]


def check_columns(
    source: str,
    schema: pa.Schema,
    keys: Sequence[str],
    text_column: str,
    settings: tuple[str, str] = ("--key", "--text-column"),
) -> None:
    """Fail naming the setting (``settings``: where the keys and the text column came from,
    a flag or a param) whose column ``schema`` lacks."""
    names = schema.names
    key_setting, text_setting = settings
    if len(set(keys)) != len(keys):
        raise PipelineError(f"{key_setting}: lists a column twice: {list(keys)}")
    for name in keys:
        if name not in names:
            raise PipelineError(
                f"{source}: key column {name!r} ({key_setting}) not found (columns: {', '.join(names)})"
            )
        if name in SCORE_COLUMNS:
            raise PipelineError(f"{source}: key column {name!r} clashes with an output column")
        kind = schema.field(name).type
        if pa.types.is_nested(kind):  # a struct, list or map cannot be checked for duplicates
            raise PipelineError(
                f"{source}: key column {name!r} ({key_setting}) has type {kind}; a key must be text, a number, "
                "a bool, a date or a time"
            )
    if text_column not in names:
        raise PipelineError(
            f"{source}: text column {text_column!r} ({text_setting}) not found (columns: {', '.join(names)})"
        )
    check_text_type(schema, text_column, text_setting, source, dictionary_ok=True)


def check_batch(
    source: str, batch: pa.RecordBatch, keys: Sequence[str], text_column: str, first_row: int
) -> None:
    """NULL keys and texts fail naming the row (rows counted from 0, the header excluded)."""
    for name, what in [*((k, "key") for k in keys), (text_column, "text")]:
        column = batch.column(name)
        if column.null_count:
            row = first_row + pc.index(pc.is_null(column), True).as_py()
            raise PipelineError(f"{source}: {what} column {name!r} is NULL in row {row}")


def read_batches(path: Path) -> tuple[pa.Schema, BatchReader]:
    """A parquet file's schema and record batches, one row group after another with no read-ahead (``pre_buffer`` off, one thread), as
    pyarrow's default reads ahead and buffers more row groups the more the file has (peak RSS
    of reading alone: 160 MiB at 1M rows, 313 MiB at 10M; so, 159 and 173 MiB)."""
    path = check_input_file(path)
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise unreadable(path, error) from None

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
                rows += batch.num_rows
                if batch.num_rows:
                    yield batch
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
            raise unreadable(path, error) from None
        finally:
            parquet.close()
        if rows == 0:
            raise PipelineError(f"{path}: has a header but no rows")

    return parquet.schema_arrow, BatchReader(batches(), parquet.close)


@contextlib.contextmanager
def local_input(source: str) -> Iterator[Path]:
    """A local path for ``source``: itself, or an ``s3://`` object downloaded to a temp file."""
    if not source.startswith("s3://"):
        yield Path(source)
        return
    from common.s3_source import download, parse_s3_url

    try:
        parsed = parse_s3_url(source)
    except PipelineError:
        raise PipelineError(f"--input: {source!r} is not an s3://bucket/key URL of one object") from None
    with tempfile.TemporaryDirectory(prefix="predict-input-") as folder:
        path = Path(folder) / Path(parsed.key).name
        download(source, path)
        yield path


class BatchScorer:
    """Scores batches in order: the first in this process, the rest in ``workers`` worker
    processes when ``workers`` > 1 (started on the second batch, so a small input starts none)."""

    def __init__(self, scorer: Scorer, files: dict[str, bytes], where: Path, workers: int) -> None:
        self.scorer = scorer
        self._init = (files, str(where))
        self.workers = workers
        self._pool: multiprocessing.pool.Pool | None = None
        self._pending: collections.deque[tuple[pa.Table, Any]] = collections.deque()
        self._batches = 0

    def submit(self, keys: pa.Table, texts: list[str]) -> Iterator[pa.RecordBatch]:
        """Queue a batch; yield the scored batches that are done, in input order."""
        self._batches += 1
        if self.workers <= 1 or self._batches == 1:
            self._pending.append((keys, self.scorer.predict(texts)))
        else:
            if self._pool is None:
                # forkserver: workers start from a clean process, not a fork of this one's threads.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(worker.PRELOAD)
                self._pool = context.Pool(self.workers, initializer=worker.start, initargs=self._init)
            self._pending.append((keys, self._pool.apply_async(worker.score, (texts,))))
        while self._pending and (
            len(self._pending) > 2 * self.workers or isinstance(self._pending[0][1], tuple)
        ):
            yield self._pop()

    def drain(self) -> Iterator[pa.RecordBatch]:
        while self._pending:
            yield self._pop()

    def _pop(self) -> pa.RecordBatch:
        keys, result = self._pending.popleft()
        scores, labels = result if isinstance(result, tuple) else result.get()
        return scored_batch(keys, scores, labels)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


def predict_file(
    source: str,
    output: Path,
    keys: Sequence[str],
    text_column: str,
    model_dir: Path,
    workers: int = 1,
    settings: tuple[str, str] = ("--key", "--text-column"),
    unlocked: bool = False,
) -> PredictionSummary:
    """Score every row of ``source`` (local or ``s3://``; .csv, .tsv or .parquet) with the model
    in ``model_dir`` into the parquet file ``output``; see the module docstring. Errors about
    the key and text columns name ``settings`` (a flag or a param each); ``unlocked``: the
    model folder need not match dvc.lock (``--unlocked-model``)."""
    files = read_trusted_model(model_dir, unlocked)
    scorer = scorer_from_files(files, model_dir)
    total: int | None = None  # rows, when the file says (parquet): the progress bar's ETA

    def score_all(schema: pa.Schema, batches: BatchReader) -> PredictionSummary:
        """One pass over the input into a fresh temp output (a CSV whose later values need
        wider types is read again from the start by ``read_whole``)."""
        rows = positives = 0
        scoring = BatchScorer(scorer, files, model_dir, workers)
        # Rows scored, rate and ETA on a terminal only (disable=None: off when stderr is not
        # a TTY, as in CI and DVC's logs); log lines go through the bar so as not to break it.
        progress = tqdm(total=total, unit="rows", unit_scale=True, desc="predict", disable=None)
        with (
            progress,
            logging_redirect_tqdm(),
            DuplicateKeyCheck(output.parent) as duplicates,
            atomic_outputs(output) as (temp,),
            contextlib.closing(scoring),
        ):
            check_columns(source, schema, keys, text_column, settings)
            writer: pq.ParquetWriter | None = None

            def write(scored: pa.RecordBatch) -> None:
                nonlocal writer, positives
                if writer is None:
                    writer = pq.ParquetWriter(temp, scored.schema, compression="zstd")
                writer.write_batch(scored)
                positives += int(pc.sum(scored.column("label")).as_py() or 0)

            try:
                for batch in batches:
                    check_batch(source, batch, keys, text_column, rows)
                    if keys:
                        key_table = pa.Table.from_batches([batch.select(list(keys))])
                        duplicates.add(*key_hashes(key_table, list(keys)), rows)
                    else:  # row numbers: unique by construction
                        numbers = np.arange(rows, rows + batch.num_rows, dtype=np.int64)
                        key_table = pa.table({ROW_KEY: numbers})
                    rows += batch.num_rows
                    progress.update(batch.num_rows)
                    for scored in scoring.submit(key_table, batch.column(text_column).to_pylist()):
                        write(scored)
                for scored in scoring.drain():
                    write(scored)
            finally:
                if writer is not None:
                    writer.close()
            repeated = duplicates.first_duplicate()
            if repeated is not None:
                first, again = repeated
                raise PipelineError(
                    f"{source}: duplicate key ({', '.join(keys)}) in row {again}, first seen in row {first}"
                )
        return PredictionSummary(rows, positives)

    with local_input(source) as path:
        if path.suffix == ".parquet":
            schema, batches = read_batches(path)
            total = pq.read_metadata(path).num_rows
            with contextlib.closing(batches):
                summary = score_all(schema, batches)
        else:
            # Keys come back as written (00123 stays 00123), and a text of digits is a text.
            summary = read_whole(path, score_all, text_columns=[*keys, text_column])
    log.info("%s: %d rows scored (%d positive) -> %s", source, summary.rows, summary.positives, output)
    return summary
