"""Reading input tables as a stream of record batches, with errors that name the file and row.

Formats: ``.tsv`` and ``.csv`` (RFC 4180 quoting, as pandas, spreadsheets and most exporters
write it: a field that starts with ``"`` may hold the delimiter, newlines and doubled quotes),
each also compressed (``.gz``, ``.zst``, ``.bz2``), and ``.parquet``. Text must be UTF-8.

Rows are the ones ``pandas.read_csv`` (C engine, default options) reads: ``\n``, ``\r\n`` and a
bare ``\r`` each end a row outside quotes (``to_csv`` leaves a field holding only ``\r``
unquoted, and pandas reads it back as two rows), blank lines are skipped, a leading UTF-8 BOM
is dropped, and a row with fewer fields than the header gets empty fields for the missing ones
(NULL, or ``""`` in a text column, as any empty field: pandas' NaN). A row
with more fields is refused, naming its row and line. tests/test_tables_pandas.py checks it.

Streaming: a delimited file is cut into chunks of about 4 MiB of whole lines, each parsed by
pyarrow's ``read_csv`` (on every core) on a background thread while the previous one is
processed. Cutting at a line end is only safe while no field is quoted: from the first chunk
that holds a ``"`` on, the rest of the file goes through pyarrow's streaming reader
(``open_csv``), whose chunker follows the quotes. Both parse with the same options, so the
values do not depend on where the switch happens.

Reading again: a short row (pyarrow refuses it) has the file read again from the start with
pyarrow's invalid-row handler, one thread, putting the row back padded; a row longer than
the streaming reader's block (a field of tens of MiB) has it read again with blocks twice as
big. Clean files never pay for either.

Types: one set for the whole file, the one pyarrow's ``read_csv`` of the whole file infers. They
are inferred from the first chunk; a later value that does not fit (``neutral`` in an integer
column) raises ``TypesWidened`` with the column widened to the next type of pyarrow's inference
order that holds it, and ``read_whole`` starts reading again with the wider types. So get_data
and prepare_data accept the same files and give the same columns, whatever the chunking.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import logging
import queue
import re
import threading
import typing
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from common.atomic import check_complete
from common.errors import PipelineError
from common.params import TABLE_SUFFIXES
from common.prepared import RAW_DIR

log = logging.getLogger(__name__)

CSV_CHUNK_BYTES = 1 << 22
MAX_BLOCK_BYTES = 1 << 34  # 16 GiB: a row longer than this is refused, not read again
PARQUET_BATCH_ROWS = 1 << 16
DELIMITERS = {"tsv": "\t", "csv": ","}
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}
SUPPORTED_SUFFIXES = TABLE_SUFFIXES  # .tsv, .csv, .parquet; .tsv and .csv also .gz, .zst, .bz2
# pyarrow's CSV type inference tries these in order and takes the first that holds every value
# (arrow/cpp/src/arrow/csv/inference_internal.h); widening moves a column along the same order.
INFERENCE_ORDER = (
    pa.null(),
    pa.int64(),
    pa.bool_(),
    pa.float64(),
    pa.date32(),
    pa.time32("s"),
    pa.timestamp("s"),
    pa.timestamp("ns"),
    pa.timestamp("s", tz="UTC"),
    pa.timestamp("ns", tz="UTC"),
    pa.string(),
)
# The first bytes of each compressed format (COMPRESSIONS' values) that a file name may announce.
_COMPRESSED_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "bz2": b"BZh"}
# Magic bytes of files that are often given the wrong name, and what to do about them.
_MAGIC = (
    (b"PAR1", "holds Parquet data, not delimited text: name it .parquet"),
    (_COMPRESSED_MAGIC["gzip"], "is gzip-compressed: name it with .gz at the end (e.g. reviews.tsv.gz)"),
    (_COMPRESSED_MAGIC["zstd"], "is zstd-compressed: name it with .zst at the end (e.g. reviews.tsv.zst)"),
    (_COMPRESSED_MAGIC["bz2"], "is bzip2-compressed: name it with .bz2 at the end (e.g. reviews.tsv.bz2)"),
    (b"PK\x03\x04", "is a zip archive (or a spreadsheet): export it as CSV or TSV"),
    (b"\xff\xfe", "is UTF-16 text: convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"\xfe\xff", "is UTF-16 text: convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
)
_CONVERSION_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (.+?): invalid value '(.*)'$", re.S
)
_FIELD_COUNT_ERROR = re.compile(r"Expected (\d+) columns, got (\d+)")
_STRADDLING_ERROR = "straddling object straddles two block boundaries"


@dataclasses.dataclass(frozen=True)
class InputFormat:
    kind: typing.Literal["tsv", "csv", "parquet"]
    compression: str | None  # pyarrow's codec name
    suffix: str


class TypesWidened(Exception):
    """A later value did not fit its column's type: read the file again with ``column_types``."""

    def __init__(self, column: str, value: str, column_types: dict[str, pa.DataType]) -> None:
        super().__init__(f"column {column!r} holds {value[:40]!r}: reading it as {column_types[column]}")
        self.column_types = column_types


class _ReadAgain(Exception):
    """The file must be read again from the start: with short rows padded (``pad``), or with
    streaming blocks of ``block_size`` bytes."""

    def __init__(self, reason: str, pad: bool = False, block_size: int | None = None) -> None:
        super().__init__(reason)
        self.pad = pad
        self.block_size = block_size


def table_suffix(path: str | Path) -> str | None:
    """The supported suffix ``path`` ends with (``.tsv.gz`` before ``.gz``), if any."""
    name = Path(path).name
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def input_format(path: str | Path) -> InputFormat:
    suffix = table_suffix(path)
    if suffix is None:
        raise PipelineError(
            f"{path}: unsupported file type (use .tsv, .csv or .parquet; .tsv and .csv may end in "
            ".gz, .zst or .bz2)"
        )
    kind, _, ext = suffix[1:].partition(".")
    return InputFormat(typing.cast(typing.Any, kind), COMPRESSIONS.get(f".{ext}"), suffix)


def csv_options(path: Path) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    """Read options for a delimited file: tab- or comma-separated, ``"`` quoting as in RFC 4180
    (a quote opens a quoted field only at the start of a field, as in pandas)."""
    delimiter = DELIMITERS.get(input_format(path).kind, ",")
    return pacsv.ReadOptions(block_size=CSV_CHUNK_BYTES), pacsv.ParseOptions(delimiter=delimiter)


def check_input_file(path: str | Path) -> Path:
    """``path`` as a Path, if it is a supported, existing, non-empty file; else one clear error."""
    path = Path(path)
    fmt = input_format(path)
    if not path.is_file():
        what = "not a regular file (a folder, a pipe or a device)" if path.exists() else "file not found"
        raise PipelineError(f"{path}: {what}")
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as error:
        raise PipelineError(f"{path}: cannot be read: {error.strerror or error}") from None
    if size == 0:
        raise PipelineError(f"{path}: file is empty")
    if fmt.kind != "parquet" and fmt.compression is None:
        for magic, advice in _MAGIC:
            if head.startswith(magic):
                raise PipelineError(f"{path}: {advice}")
    if fmt.compression is not None and not head.startswith(_COMPRESSED_MAGIC[fmt.compression]):
        ending = path.name[path.name.rindex(".") :]
        raise PipelineError(
            f"{path}: is not {fmt.compression}-compressed (it lacks the format's first bytes): name it "
            f"without {ending}, or compress it"
        )
    return path


def _printable(text: str, limit: int = 160) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def unreadable(path: str | Path, error: Exception) -> PipelineError:
    """The one-line error for a file that pyarrow cannot read: its first line of detail."""
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        first_line = error.strerror
    return PipelineError(f"{path}: cannot be read: {_printable(first_line)}")


def _open_bytes(path: Path, compression: str | None) -> typing.BinaryIO:
    if compression is None:
        return path.open("rb")
    return typing.cast(typing.BinaryIO, pa.CompressedInputStream(pa.OSFile(str(path)), compression))


class _Prepend(io.RawIOBase):
    """``head``, then the rest of ``stream``: a file object for pyarrow's ``open_csv``."""

    def __init__(self, head: bytes, stream: typing.BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: typing.Any) -> int:
        # Fill ``buffer`` whole (short only at the end): pyarrow's streaming reader drops the
        # \n of a quoted \r\n that a short read splits (pyarrow 26: "a\r" then "\nb" reads "a\rb").
        view = memoryview(buffer).cast("B")
        filled = 0
        if len(self._head):
            filled = min(len(view), len(self._head))
            view[:filled] = self._head[:filled]
            self._head = self._head[filled:]
        while filled < len(view):
            count = self._stream.readinto(view[filled:])  # type: ignore[attr-defined]
            if not count:
                break
            filled += count
        return filled


class _LineChunks:
    """The stream in pieces of about ``chunk_bytes`` that end at a line end (``\n`` or ``\r``), until a piece holds
    a quote character: iteration then stops, and ``rest`` holds every byte not yet yielded.

    Each piece is a view of one buffer that the next piece overwrites: use it up (parse it)
    before asking for the next. Reading into the same buffer, instead of a new bytes object
    or two per piece, saves their copies and page faults (0.3 s of 0.4 s for 520 MiB here).
    """

    def __init__(self, stream: typing.BinaryIO, chunk_bytes: int) -> None:
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self.rest: bytes | None = None

    def __iter__(self) -> Iterator[memoryview]:
        buffer = bytearray(self._chunk_bytes)
        filled = 0
        while True:
            if filled == len(buffer):  # a line longer than the buffer: a bigger one
                buffer = buffer + bytearray(len(buffer))
            count = self._stream.readinto(memoryview(buffer)[filled:])  # type: ignore[attr-defined]
            end = filled + count
            # A row ends at \n, \r\n or a bare \r (a file of CR line ends must not be one chunk).
            cut = max(buffer.rfind(b"\n", 0, end), buffer.rfind(b"\r", 0, end)) + 1 if count else end
            if cut:
                if buffer.find(b'"', 0, cut) >= 0:
                    self.rest = bytes(buffer[:end])
                    return
                yield memoryview(buffer)[:cut]
            if not count:
                return
            buffer[: end - cut] = buffer[cut:end]
            filled = end - cut


def _widened(schema: pa.Schema, error: pa.ArrowInvalid) -> TypesWidened | None:
    """The ``TypesWidened`` for a conversion error of ``schema``'s column, if it is one."""
    match = _CONVERSION_ERROR.match(str(error))
    if match is None:
        return None
    index, value = int(match.group(1)), match.group(3)
    current = schema.field(index).type
    later = INFERENCE_ORDER[INFERENCE_ORDER.index(current) + 1 :] if current in INFERENCE_ORDER else ()
    wider = next((kind for kind in later if _holds(kind, value)), pa.string())
    types = dict(zip(schema.names, schema.types, strict=True))
    types[schema.names[index]] = wider
    return TypesWidened(schema.names[index], value, types)


def _holds(kind: pa.DataType, value: str) -> bool:
    data = b'x\n"' + value.replace('"', '""').encode() + b'"\n'
    try:
        pacsv.read_csv(
            pa.py_buffer(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={"x": kind}),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _check_header(path: Path, schema: pa.Schema) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(schema.names):
        if name in seen:
            raise PipelineError(
                f"{path}: column {name!r} appears twice in the header (columns {seen[name] + 1} and "
                f"{index + 1}); rename one"
            )
        seen[name] = index


class _Unreadable(Exception):
    """Raised on the reading thread; the consumer diagnoses the file (UTF-8, row) from the start."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _read_again(error: pa.ArrowInvalid, block_size: int) -> _ReadAgain | None:
    """The ``_ReadAgain`` for a parse error that reading again fixes, if it is one."""
    text = str(error)
    counts = _FIELD_COUNT_ERROR.search(text)
    if counts is not None and int(counts.group(2)) < int(counts.group(1)):
        return _ReadAgain("a row has fewer fields than the header: reading it padded", pad=True)
    if _STRADDLING_ERROR in text and block_size > 0:
        return _ReadAgain(f"a row is longer than {block_size} bytes", block_size=2 * block_size)
    return None


def _parse(parse: Callable[[], pa.Table], schema: pa.Schema | None, block_size: int = 0) -> pa.Table:
    try:
        table = parse()
    except pa.ArrowInvalid as error:
        widened = _widened(schema, error) if schema is not None else None
        again = _read_again(error, block_size)
        retry = widened or again
        if retry is not None:
            raise retry from None
        raise _Unreadable(error) from None
    if any(pa.types.is_binary(t) for t in table.schema.types):
        raise _Unreadable(pa.ArrowInvalid("invalid UTF8 data"))
    return table


class _ShortRows:
    """pyarrow's invalid-row handler for one parse (one thread, so rows are numbered: from 1,
    a header counted). A row with fewer fields than the header is skipped and kept, to be put
    back with empty fields for the missing ones, as pandas pads it; a line of only spaces and tabs
    is dropped, as pandas skips it; ``merge`` puts the kept rows back in place."""

    def __init__(self, delimiter: str) -> None:
        self._delimiter = delimiter
        # (number, text, fields): text None for a dropped line
        self._rows: collections.deque[tuple[int, str | None, int]] = collections.deque()

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if row.number is None or row.actual_columns >= row.expected_columns:
            return "error"
        blank = row.actual_columns == 1 and not row.text.strip(" \t")
        self._rows.append((row.number, None if blank else row.text, row.actual_columns))
        return "skip"

    def merge(
        self, table: pa.Table, first: int, schema: pa.Schema, last: bool = False
    ) -> tuple[pa.Table, int]:
        """``table`` (parsed rows numbered from ``first`` on, less the skipped ones) with the
        skipped rows among them back in place (``last``: and every one after them, the parse
        being done), and the number of the row after them."""
        end = first + table.num_rows
        taken: list[tuple[int, str | None, int]] = []
        while self._rows and (last or self._rows[0][0] < end):
            taken.append(self._rows.popleft())
            end = max(end + 1, taken[-1][0] + 1)
        kept = [(number, text, fields) for number, text, fields in taken if text is not None]
        if not taken:
            return table, end
        table = table.cast(schema)
        if kept:
            width = len(schema)
            data = "\n".join(text + self._delimiter * (width - fields) for _, text, fields in kept).encode()
            padded = _parse(
                lambda: pacsv.read_csv(
                    pa.py_buffer(data + b"\n"),
                    pacsv.ReadOptions(use_threads=False, column_names=schema.names),
                    pacsv.ParseOptions(delimiter=self._delimiter, newlines_in_values=True),
                    pacsv.ConvertOptions(column_types=schema),
                ),
                schema,
            )
            table = pa.concat_tables([table, padded])
        # Each number from first to end: a parsed row, a padded one, or a dropped line.
        numbers = np.arange(first, end)
        is_kept = np.isin(numbers, [number for number, *_ in kept])
        is_parsed = ~np.isin(numbers, [number for number, *_ in taken])
        order = np.full(end - first, -1, dtype=np.int64)
        order[is_parsed] = np.arange(int(is_parsed.sum()))
        order[is_kept] = int(is_parsed.sum()) + np.arange(len(kept))
        return table.take(order[order >= 0]), end


def _csv_batches(
    path: Path,
    fmt: InputFormat,
    chunk_bytes: int,
    column_types: dict[str, pa.DataType] | None,
    pad: bool = False,
    block_size: int | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], Callable[[], None]]:
    """Schema and batches of a delimited file; the third item closes the file and stops the
    reading thread, whether or not the batches were started. ``pad``: put short rows back
    (one thread); ``block_size``: the streaming reader's block (default ``CSV_CHUNK_BYTES``)."""
    read, parse = csv_options(path)
    block = block_size or read.block_size
    delimiter = parse.delimiter
    padding = _ShortRows(delimiter) if pad else None  # the first parse's handler

    def parse_options(newlines: bool, handler: _ShortRows | None) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=newlines, invalid_row_handler=handler
        )

    def read_options(size: int, names: list[str] | None = None) -> pacsv.ReadOptions:
        # A chunk longer than a block (a line longer than chunk_bytes) is parsed as one block:
        # pyarrow refuses a row that straddles two.
        return pacsv.ReadOptions(
            block_size=max(read.block_size, size + 1), column_names=names, use_threads=not pad
        )

    convert = pacsv.ConvertOptions(column_types=column_types) if column_types else pacsv.ConvertOptions()
    stream = _open_bytes(path, fmt.compression)
    try:
        chunks = _LineChunks(stream, chunk_bytes)
        pieces = iter(chunks)
        first = next(pieces, None)
        reader: pacsv.CSVStreamingReader | None = None
        if first is not None:
            given = pa.schema(list(column_types.items())) if column_types else None
            table = _parse(
                lambda: pacsv.read_csv(
                    pa.BufferReader(first), read_options(len(first)), parse_options(False, padding), convert
                ),
                given,
            )
            schema = table.schema
        else:  # quoted from the first chunk on
            rest = _Prepend(chunks.rest or b"", stream)
            try:
                reader = pacsv.open_csv(
                    rest,
                    read_options=pacsv.ReadOptions(block_size=block, use_threads=not pad),
                    parse_options=parse_options(True, padding),
                    convert_options=convert,
                )
            except pa.ArrowInvalid as error:
                again = _read_again(error, block)
                raise (again or _Unreadable(error)) from None
            schema = reader.schema
            if any(pa.types.is_binary(t) for t in schema.types):
                raise _Unreadable(pa.ArrowInvalid("invalid UTF8 data"))
        _check_header(path, schema)
    except BaseException:
        stream.close()
        raise
    fixed = pacsv.ConvertOptions(column_types=schema)

    def streamed(
        reader: pacsv.CSVStreamingReader, handler: _ShortRows | None, number: int
    ) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                if handler is not None:  # short rows after the last batch
                    yield from handler.merge(schema.empty_table(), number, schema, last=True)[0].to_batches()
                return
            except pa.ArrowInvalid as error:
                widened = _widened(schema, error)
                raise (widened or _read_again(error, block) or _Unreadable(error)) from None
            if handler is None:
                yield batch
                continue
            merged, number = handler.merge(pa.Table.from_batches([batch]), number, schema)
            yield from merged.to_batches()

    def batches() -> Iterator[pa.RecordBatch]:
        with stream:
            if reader is not None:
                yield from streamed(reader, padding, 2)  # pyarrow numbers the header 1
                return
            if padding is not None:
                yield from padding.merge(table, 2, schema, last=True)[0].to_batches()
            else:
                yield from table.to_batches()
            for chunk in pieces:
                handler = _ShortRows(delimiter) if pad else None
                options = read_options(len(chunk), schema.names)

                def parse_chunk(
                    chunk: memoryview = chunk,
                    options: pacsv.ReadOptions = options,
                    handler: _ShortRows | None = handler,
                ) -> pa.Table:
                    return pacsv.read_csv(
                        pa.BufferReader(chunk), options, parse_options(False, handler), fixed
                    )

                part = _parse(parse_chunk, schema)
                if handler is not None:
                    part = handler.merge(part, 1, schema, last=True)[0]
                yield from part.to_batches()
            if chunks.rest is not None:
                handler = _ShortRows(delimiter) if pad else None
                rest = _Prepend(chunks.rest, stream)
                options = pacsv.ReadOptions(block_size=block, column_names=schema.names, use_threads=not pad)
                try:
                    later = pacsv.open_csv(rest, options, parse_options(True, handler), fixed)
                except pa.ArrowInvalid as error:
                    widened = _widened(schema, error)
                    raise (widened or _read_again(error, block) or _Unreadable(error)) from None
                yield from streamed(later, handler, 1)

    prefetched = prefetch(batches())

    def close() -> None:
        try:
            prefetched.close()
        finally:
            stream.close()

    return schema, prefetched, close


def _find_invalid_utf8(path: Path, fmt: InputFormat) -> tuple[int, int, int, bytes] | None:
    """(byte offset, line, offset of that line's start, the bad bytes) of the first byte that is
    not UTF-8, if any. Decoded a run of whole lines at a time: no character spans a newline."""
    offset, line, carry = 0, 1, b""
    with _open_bytes(path, fmt.compression) as stream:
        while True:
            block = stream.read(1 << 20)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            try:
                data[:cut].decode("utf-8")
            except UnicodeDecodeError as error:
                start = error.start
                line_start = data.rfind(b"\n", 0, start) + 1
                bad = data[start : error.end]
                return offset + start, line + data.count(b"\n", 0, start), offset + line_start, bad
            if not block:
                return None
            line += data.count(b"\n", 0, cut)
            offset += cut
            carry = data[cut:]


def _rows_before(path: Path, fmt: InputFormat, offset: int) -> int | None:
    """Data rows of the file that end before byte ``offset`` (at a line start), if it parses."""
    with _open_bytes(path, fmt.compression) as stream:
        head = stream.read(offset)
    _, parse = csv_options(path)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(head),
            parse_options=pacsv.ParseOptions(delimiter=parse.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(auto_dict_encode=False),
            read_options=pacsv.ReadOptions(use_threads=False),
        )
    except (pa.ArrowInvalid, OSError):
        return None
    return table.num_rows


def diagnose(path: Path, error: Exception) -> PipelineError:
    """One line for a delimited file that failed to parse: the first byte that is not UTF-8, or
    the first row with the wrong number of fields, by row, line and byte offset."""
    fmt = input_format(path)
    try:
        bad = _find_invalid_utf8(path, fmt)
    except (OSError, pa.ArrowInvalid) as failure:
        return unreadable(path, failure)
    if bad is not None:
        offset, line, line_start, data = bad
        rows = _rows_before(path, fmt, line_start) if line > 1 else None
        where = "the header" if line == 1 else f"row {rows + 1}" if rows is not None else f"line {line}"
        return PipelineError(
            f"{path}: {where} (line {line}, byte offset {offset}) is not UTF-8 (bytes {data.hex(' ')}); "
            "convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8"
        )
    found = _find_long_row(path, fmt)
    if found is not None:
        row, line, expected, fields = found
        text = csv_options(path)[1].delimiter.join(fields)
        return PipelineError(
            f"{path}: row {row} (line {line}): expected {expected} fields, got {len(fields)}: "
            f"{_printable(text, 80)}"
        )
    unclosed = _find_unclosed_quote(path, fmt)
    if unclosed is not None:
        return PipelineError(
            f'{path}: row {unclosed[0]} (line {unclosed[1]}) opens a quoted field (") that the file never '
            'closes; add the closing quote, or double a quote inside a quoted field ("")'
        )
    return unreadable(path, error)


class _CsvRowError(csv.Error):
    """Python's csv module failed on the row that starts at ``row`` (0: the header), ``line``."""

    def __init__(self, row: int, line: int, reason: str) -> None:
        super().__init__(reason)
        self.row, self.line = row, line


def _csv_rows(path: Path, fmt: InputFormat, strict: bool = False) -> Iterator[tuple[int, int, list[str]]]:
    """(row, line, fields) of each row of a delimited file, the header as row 0, blank lines
    skipped as pandas skips them. Python's csv module splits rows as pandas does (quotes,
    ``\r``, ``\n``, ``\r\n``) and counts the lines; it is slow, but runs only once a file has
    failed. ``strict``: fail (``_CsvRowError``) where the file ends inside a quoted field."""
    delimiter = csv_options(path)[1].delimiter
    previous = csv.field_size_limit((1 << 31) - 1)
    with contextlib.ExitStack() as restore, _open_bytes(path, fmt.compression) as raw:
        restore.callback(csv.field_size_limit, previous)
        text = io.TextIOWrapper(typing.cast(typing.BinaryIO, raw), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=strict)
        row, line = 0, 1
        try:
            for fields in reader:
                if fields and not (len(fields) == 1 and not fields[0].strip(" \t")):
                    yield row, line, fields
                    row += 1
                line = reader.line_num + 1
        except csv.Error as error:
            raise _CsvRowError(row, line, str(error)) from None


def _find_long_row(path: Path, fmt: InputFormat) -> tuple[int, int, int, list[str]] | None:
    """(row, line, header fields, fields) of the first row with more fields than the header,
    if any."""
    expected = 0
    try:
        for row, line, fields in _csv_rows(path, fmt):
            if row == 0:
                expected = len(fields)
            elif len(fields) > expected:
                return row, line, expected, fields
    except (csv.Error, UnicodeDecodeError):
        return None
    return None


def _find_unclosed_quote(path: Path, fmt: InputFormat) -> tuple[int, int] | None:
    """(row, line) where a quoted field opens that the file never closes, if that is where
    the file breaks (a quirk that pandas reads, such as ``"a"b``, makes it unknown: None)."""
    try:
        for _ in _csv_rows(path, fmt, strict=True):
            pass
    except _CsvRowError as error:
        if "unexpected end of data" in str(error):
            return error.row, error.line
    except UnicodeDecodeError:
        pass
    return None


def _header_names(path: Path, fmt: InputFormat) -> list[str]:
    _, parse = csv_options(path)
    with _open_bytes(path, fmt.compression) as stream:
        head = stream.read(1 << 20)
    header = re.split(rb"\r\n?|\n", head, maxsplit=1)[0]  # LF, CRLF or CR line ends
    # One line needs no thread pool (check_params reads only this, then exits at once).
    table = pacsv.read_csv(
        pa.py_buffer(header + b"\n"),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=parse.delimiter),
        convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False),
    )
    return table.schema.names


def header_names(path: str | Path) -> list[str]:
    """The column names of a table file, from its header (or parquet footer) alone: cheap
    whatever the file's size. Errors name the file."""
    path = check_input_file(path)
    fmt = input_format(path)
    try:
        if fmt.kind == "parquet":
            return pq.read_schema(path).names
        return _header_names(path, fmt)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(path, error) from None


class BatchReader(Iterator[pa.RecordBatch]):
    """An input file's record batches; ``close`` (called at the end of the batches too)
    closes the file and stops its reading thread, even before the first batch was asked for,
    which closing a generator that never started would not do."""

    def __init__(self, batches: Iterator[pa.RecordBatch], close: Callable[[], None]) -> None:
        self._batches = batches
        self._close = close

    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)

    def close(self) -> None:
        try:
            close = getattr(self._batches, "close", None)
            if close is not None:
                close()
        finally:
            self._close()


_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OSError, _Unreadable)


def open_batches(
    path: str | Path,
    block_size: int | None = None,
    column_types: dict[str, pa.DataType] | None = None,
    pad_short_rows: bool = False,
    stream_block_size: int | None = None,
) -> tuple[pa.Schema, BatchReader]:
    """The file's schema and an iterator over its record batches (at least one row in all).

    Errors name the file: missing, empty, unreadable, not UTF-8 or a row with the wrong number
    of fields (by row), no rows. A later value that does not fit its column raises
    ``TypesWidened``, and a short or very long row ``_ReadAgain``: ``read_whole`` handles them
    (``pad_short_rows``, ``stream_block_size``). ``block_size`` (bytes of CSV per chunk) is for
    tests. Close the iterator if you stop before its end.
    """
    path = check_input_file(path)
    fmt = input_format(path)
    parquet: pq.ParquetFile | None = None
    try:
        if fmt.kind == "parquet":
            parquet = pq.ParquetFile(path)
            schema, batches = parquet.schema_arrow, parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS)
            close = parquet.close
            _check_header(path, schema)
        else:
            while True:  # a short or long row in the first chunk: open it again, padded or so
                try:
                    schema, batches, close = _csv_batches(
                        path,
                        fmt,
                        block_size or CSV_CHUNK_BYTES,
                        column_types,
                        pad_short_rows,
                        stream_block_size,
                    )
                    break
                except _ReadAgain as again:
                    bigger = (again.block_size or 0) > (stream_block_size or 0)
                    if (
                        not ((again.pad and not pad_short_rows) or bigger)
                        or (again.block_size or 0) > MAX_BLOCK_BYTES
                    ):
                        raise _Unreadable(pa.ArrowInvalid(str(again))) from None
                    pad_short_rows = pad_short_rows or again.pad
                    stream_block_size = again.block_size or stream_block_size
    except _READ_ERRORS as error:
        if parquet is not None:
            parquet.close()
        raise _failure(path, fmt, error) from None

    def checked() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            for batch in batches:
                rows += batch.num_rows
                if batch.num_rows:
                    yield batch
        except _READ_ERRORS as error:
            raise _failure(path, fmt, error) from None
        finally:
            close()
        if rows == 0:
            raise PipelineError(f"{path}: has a header but no rows")

    return schema, BatchReader(checked(), close)


def _failure(path: Path, fmt: InputFormat, error: BaseException) -> PipelineError:
    if isinstance(error, _Unreadable) and fmt.kind != "parquet":
        return diagnose(path, error.error)
    if isinstance(error, _Unreadable):
        return unreadable(path, error.error)
    return unreadable(path, typing.cast(Exception, error))


T = typing.TypeVar("T")


def read_whole(
    path: str | Path,
    use: Callable[[pa.Schema, BatchReader], T],
    block_size: int | None = None,
    text_columns: Sequence[str] = (),
) -> T:
    """``use(schema, batches)`` of the file, read again with wider types each time a later value
    does not fit its column (``TypesWidened``): the result is that of the types inferred from
    the whole file. Read again too, padded, when a row is short, and with bigger streaming
    blocks when a row is longer than one (``_ReadAgain``). ``use`` must start afresh each time
    (write to the start of its outputs). ``text_columns`` of a CSV or TSV are read as written,
    as strings (``00123`` stays ``00123``); a name the file lacks is ignored."""
    column_types: dict[str, pa.DataType] | None = dict.fromkeys(text_columns, pa.string()) or None
    pad = False
    stream_block: int | None = None
    while True:
        try:
            schema, batches = open_batches(path, block_size, column_types, pad, stream_block)
            with contextlib.closing(batches):
                return use(schema, batches)
        except TypesWidened as widened:
            if widened.column_types == column_types:  # cannot happen; never loop on it
                raise PipelineError(f"{path}: cannot be read: {widened}") from None
            log.info("%s: %s, from the first row", path, widened)
            column_types = widened.column_types
        except _ReadAgain as again:
            changes = (again.pad and not pad) or (again.block_size or 0) > (stream_block or 0)
            if not changes or (again.block_size or 0) > MAX_BLOCK_BYTES:  # never loop on it
                raise diagnose(Path(path), pa.ArrowInvalid(str(again))) from None
            log.info("%s: %s, from the first row", path, again)
            pad = pad or again.pad
            stream_block = again.block_size or stream_block


def read_table(path: str | Path) -> pa.Table:
    """Read a whole table; one clear ``PipelineError`` if it is missing, empty or malformed."""
    return read_whole(path, lambda schema, batches: pa.Table.from_batches(list(batches), schema=schema))


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Generator[pa.RecordBatch, None, None]:
    """``batches``, produced ``depth`` ahead on a background thread: parsing the next chunk
    (which releases the GIL) overlaps the work on this one. Errors surface in the consumer."""
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, object]) -> bool:
        """Queue ``item`` unless the consumer has stopped (the queue may then stay full)."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(("batch", batch)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the consumer, which raises it
            put(("error", error))

    thread = threading.Thread(target=produce, name="batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise typing.cast(BaseException, item)
            yield typing.cast(pa.RecordBatch, item)
    finally:
        # Stopped early (an error downstream): free a producer blocked on a full queue; it
        # sees `stop` within one put timeout and returns, whatever `depth`.
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                slots.get_nowait()
        thread.join()


def find_raw_file(raw_dir: Path = RAW_DIR) -> Path:
    """The table get_data wrote into ``raw_dir`` (data/raw): reviews.tsv, .csv or .parquet."""
    check_complete(raw_dir)
    found = sorted(p for p in raw_dir.glob("reviews.*") if table_suffix(p))
    if not found:
        raise PipelineError(f"{raw_dir}: no reviews.tsv/.csv/.parquet (run get_data first)")
    return found[0]
