"""Reading input tables (.tsv, .csv, .parquet) with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from common.errors import PipelineError

SUPPORTED_SUFFIXES = (".tsv", ".csv", ".parquet")


def csv_options(path: Path) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    """Read options for a delimited file: TSV is unquoted (like the Rotten Tomatoes data)."""
    if path.suffix == ".tsv":
        parse = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    else:
        parse = pacsv.ParseOptions(delimiter=",")
    return pacsv.ReadOptions(block_size=1 << 22), parse


def check_input_file(path: str | Path) -> Path:
    """``path`` as a Path, if it is a supported, existing, non-empty file; else one clear error."""
    path = Path(path)
    if path.suffix not in SUPPORTED_SUFFIXES:
        raise PipelineError(f"{path}: unsupported file type {path.suffix!r} (use .tsv, .csv or .parquet)")
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: file is empty")
    return path


def unreadable(path: str | Path, error: Exception) -> PipelineError:
    """The one-line error for a file that pyarrow cannot parse: its first line of detail."""
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return PipelineError(f"{path}: cannot be read: {first_line}")


def read_table(path: str | Path) -> pa.Table:
    """Read a whole table; one clear ``PipelineError`` if it is missing, empty or malformed."""
    path = check_input_file(path)
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            read, parse = csv_options(path)
            table = pacsv.read_csv(path, read_options=read, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise unreadable(path, error) from None
    if table.num_rows == 0:
        raise PipelineError(f"{path}: has a header but no rows")
    return table
