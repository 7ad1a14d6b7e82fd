"""Streaming input (record batches) and output (parquet with a fixed row-group layout).

Reading is ``common.tables`` (``open_batches``, ``read_whole``), re-exported here. Writing:
each split goes to a ``SplitWriter`` whose row groups hold exactly ``ROW_GROUP_ROWS`` rows (the
last one fewer), so the file's bytes do not depend on how the input was batched; each file is
written on a thread of its own (``SerialWorker``; pyarrow releases the GIL while encoding).
Every queue between the threads is short, so memory stays flat.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import sys
import typing
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

from common.tables import BatchReader, open_batches, prefetch, read_whole

__all__ = [
    "BackgroundWriters",
    "BatchReader",
    "SerialWorker",
    "SplitWriter",
    "open_batches",
    "prefetch",
    "read_whole",
]

ROW_GROUP_ROWS = 1 << 16
Sink: typing.TypeAlias = str | os.PathLike[str] | pa.NativeFile


def reuse_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse, for this process.

    By default it returns every freed block over 128 KiB to the OS, and the next batch's numpy
    arrays of that size fault their pages in again: 17,000 page faults more at 1M rows, and a
    fifth of the stage's time. The thresholds here keep blocks below 64 MiB in the heap and the
    heap's top below 256 MiB. Elsewhere than Linux, or without glibc, this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)


class SplitWriter:
    """A parquet file written in row groups of exactly ``ROW_GROUP_ROWS`` rows.

    Only ``dictionary_columns`` are dictionary-encoded. Texts and ids are nearly unique: there
    a dictionary is built for each row group and then abandoned, which made writing 36%
    slower and the files 7% larger on the default data shape (``benchmarks/prepare_data.py``).
    ``text_columns`` get no min/max statistics: those of free text prune nothing, and cost
    8% of the writing time. The other integer columns (ids, mostly) are delta-encoded: 22%
    smaller files, written 9% and read 13% faster than plain values.
    """

    def __init__(
        self,
        sink: Sink,
        schema: pa.Schema,
        row_group_rows: int = ROW_GROUP_ROWS,
        dictionary_columns: Sequence[str] = (),
        text_columns: Sequence[str] = (),
    ) -> None:
        self.schema = schema
        self.row_group_rows = row_group_rows
        statistics = [name for name in schema.names if name not in text_columns]
        delta = {
            field.name: "DELTA_BINARY_PACKED"
            for field in schema
            if pa.types.is_integer(field.type) and field.name not in dictionary_columns
        }
        self._writer = pq.ParquetWriter(
            sink,
            schema,
            use_dictionary=list(dictionary_columns) or False,
            write_statistics=statistics or False,
            column_encoding=delta or None,
        )
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        pending = pa.concat_tables(self._pending)
        size = self.row_group_rows
        full = pending.num_rows if final else pending.num_rows - pending.num_rows % size
        for start in range(0, full, size):
            # One contiguous chunk per row group: pages then break at the same rows whatever
            # the batches were.
            group = pending.slice(start, min(size, full - start)).combine_chunks()
            self._writer.write_table(group, row_group_size=size)
        rest = pending.slice(full)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        if self._pending_rows:
            self._flush(final=True)
        self._writer.close()

    def discard(self) -> None:
        """Close without writing what is pending (the caller deletes the file); a closed file
        is left as it is. Never raises: the error that made the caller discard is the one to
        report."""
        self._pending, self._pending_rows = [], 0
        with contextlib.suppress(Exception):
            self._writer.close()


class SerialWorker:
    """Calls run one at a time on a thread of its own, in submission order; at most
    ``max_pending`` wait, which bounds the memory they hold. The stage's one concurrency
    mechanism after reading: a worker per split file (``BackgroundWriters``) and one for the
    report (``prepare_data.split``). Leaving it (``with``) cancels the calls not started and
    waits for the one under way; ``drain`` waits for all and re-raises the first error."""

    def __init__(self, name: str, max_pending: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._futures: collections.deque[Future[None]] = collections.deque()
        self._max_pending = max_pending

    def submit(self, call: typing.Callable[..., None], *args: object, wait: bool = True) -> None:
        """Queue ``call(*args)``; then wait (``wait``) until at most ``max_pending`` are queued.
        Skip the wait only for calls that hold no memory of their own."""
        self._futures.append(self._pool.submit(call, *args))
        while wait and len(self._futures) > self._max_pending:
            self._futures.popleft().result()

    def drain(self) -> None:
        while self._futures:
            self._futures.popleft().result()

    def __enter__(self) -> SerialWorker:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class BackgroundWriters:
    """``SplitWriter``s fed from the calling thread, each written on a ``SerialWorker`` of its
    own, in submission order. At most ``max_pending`` writes wait per file (three batches'
    worth), which bounds memory. Closing queues each file's last row groups after its writes,
    so the files are finished side by side (encoding releases the GIL) while the caller goes
    on. Leaving it (``with``) closes the files, or after an error discards them."""

    def __init__(
        self,
        sinks: dict[str, Sink],
        schema: pa.Schema,
        row_group_rows: int = ROW_GROUP_ROWS,
        dictionary_columns: Sequence[str] = (),
        text_columns: Sequence[str] = (),
        max_pending: int = 3,
    ) -> None:
        self._writers: dict[str, SplitWriter] = {}
        self._workers: dict[str, SerialWorker] = {}
        with contextlib.ExitStack() as cleanup:  # a sink that fails to open discards the others
            for name, sink in sinks.items():
                writer = SplitWriter(sink, schema, row_group_rows, dictionary_columns, text_columns)
                self._writers[name] = writer
                cleanup.callback(writer.discard)  # after its worker stopped (last in, first out)
                self._workers[name] = cleanup.enter_context(SerialWorker(f"parquet-{name}", max_pending))
            self._cleanup = cleanup.pop_all()
        self._closing = False

    def write(self, name: str, table: pa.Table | typing.Callable[[], pa.Table]) -> None:
        """Append ``table`` to split ``name``; a callable is called on the file's worker, to
        build the table there (a take, say) instead of on the calling thread."""
        writer = self._writers[name]

        def build_and_write() -> None:
            writer.write(table() if callable(table) else table)

        self._workers[name].submit(build_and_write)

    def start_closing(self) -> None:
        """Queue the closing of every file (its last row groups) after its writes, and return:
        the caller can go on with other work. ``close`` then waits for it."""
        if not self._closing:
            self._closing = True
            for name, worker in self._workers.items():
                worker.submit(self._writers[name].close, wait=False)

    def close(self) -> None:
        """Finish every write and close the files; on a write's error, discard every file
        (a closed one is left as it is) and re-raise."""
        with self._cleanup:
            self.start_closing()
            for worker in self._workers.values():
                worker.drain()

    def abort(self) -> None:
        """Stop after the writes under way and discard the files (the caller deletes them)."""
        self._cleanup.close()

    def __enter__(self) -> BackgroundWriters:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
