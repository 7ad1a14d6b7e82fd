"""Real-world input files: quoted fields, late type changes, encodings, compression, odd headers.

Each file is read in full, streamed, with the same output bytes whatever the chunking, or
refused with one line that names the file and the row; get_data and prepare_data agree."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from common.errors import PipelineError
from common.params import DataParams, SplitParams
from common.tables import check_input_file, open_batches, read_table, read_whole
from prepare_data.report import SPLITS
from prepare_data.split import split_stream
from tests.conftest import ROOT, run_module
from tests.test_bad_input import assert_fails_cleanly, scratch

DATA = DataParams()
HASH = SplitParams()
HEADER = ["PhraseId", "SentenceId", "Phrase", "Sentiment"]


def frame(rows: int, text: str = "plain phrase {i}") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "PhraseId": range(1, rows + 1),
            "SentenceId": [i // 4 for i in range(rows)],
            "Phrase": [text.format(i=i) for i in range(rows)],
            "Sentiment": [(0, 4, 2)[i % 3] for i in range(rows)],
        }
    )


# Values pandas (and spreadsheets) quote: a tab, a comma, a newline, a doubled quote.
TRICKY = 'said "hi",\tthen\nleft {i}'


def split_files(path: Path, block_size: int | None) -> tuple[dict[str, bytes], dict]:
    attempts: list[dict[str, pa.BufferOutputStream]] = []

    def split(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> dict:
        attempts.append({name: pa.BufferOutputStream() for name in SPLITS})
        return split_stream(schema, batches, DATA, HASH, attempts[-1])

    report = read_whole(path, split, block_size=block_size)
    return {name: sink.getvalue().to_pybytes() for name, sink in attempts[-1].items()}, report


def arrow(table: pd.DataFrame) -> pa.Table:
    """``table`` as the CSV reader types it (pandas gives large_string)."""
    return pa.table({name: pa.array(table[name].tolist()) for name in table.columns})


def in_memory(table: pa.Table) -> tuple[dict[str, bytes], dict]:
    sinks = {name: pa.BufferOutputStream() for name in SPLITS}
    report = split_stream(table.schema, table.combine_chunks().to_batches(), DATA, HASH, sinks)
    return {name: sink.getvalue().to_pybytes() for name, sink in sinks.items()}, report


@pytest.mark.parametrize("sep", ["\t", ","])
@pytest.mark.parametrize("quoted_from", [0, 700])
def test_quoted_fields_are_read_in_full_with_the_same_bytes_whatever_the_chunking(
    tmp_path: Path, sep: str, quoted_from: int
) -> None:
    table = frame(3000)
    table.loc[quoted_from:, "Phrase"] = [TRICKY.format(i=i) for i in range(quoted_from, 3000)]
    path = tmp_path / ("reviews.tsv" if sep == "\t" else "reviews.csv")
    table.to_csv(path, sep=sep, index=False)
    expected = in_memory(arrow(table))
    for block_size in (256, 4096, None):
        assert split_files(path, block_size) == expected
    assert read_table(path).column("Phrase").to_pylist() == table["Phrase"].tolist()


def test_a_quoted_csv_larger_than_several_chunks_is_read_in_full(tmp_path: Path) -> None:
    rows = 60_000  # about 3 MB: a dozen chunks of 256 KiB
    table = frame(rows, text='a review, with "quotes" and a comma {i}')
    path = tmp_path / "reviews.csv"
    table.to_csv(path, index=False)
    _, batches = open_batches(path, block_size=1 << 18)
    assert sum(batch.num_rows for batch in batches) == rows


def test_late_values_widen_the_column_as_read_csv_of_the_whole_file(tmp_path: Path) -> None:
    cases = {
        "Sentiment": ["0", "4", "neutral"],
        "Score": ["1", "2", "2.5"],
        "Flag": ["1", "0", "true"],
        "Mixed": ["1", "true", "2"],
        "Day": ["2021-03-04", "2021-03-04 10:00:00", ""],
        "Empty": ["", "", "text"],
    }
    path = tmp_path / "reviews.csv"
    lines = ["Phrase," + ",".join(cases)]
    for i in range(3000):
        late = 2 if i == 2999 else i % 2
        lines.append(f"p{i}," + ",".join(values[late] for values in cases.values()))
    path.write_text("\n".join(lines) + "\n")
    whole = pacsv.read_csv(path)
    streamed = read_table(path)
    assert streamed.schema == whole.schema
    assert streamed.equals(whole)
    small = read_whole(
        path, lambda schema, batches: pa.Table.from_batches(list(batches), schema), block_size=512
    )
    assert small.equals(whole)


def test_sentiment_neutral_after_the_first_chunk_is_a_string_label_as_in_the_whole_file(
    tmp_path: Path,
) -> None:
    table = frame(200_000)  # 6 MB: the first 4 MiB chunk holds only integers
    table["Sentiment"] = table["Sentiment"].astype(str)
    table.loc[150_000, "Sentiment"] = "neutral"
    folder = scratch(tmp_path, raw=table.to_csv(sep="\t", index=False))
    result = run_module("prepare_data", folder, code=ROOT)
    assert result.returncode == 0, result.stderr
    train = pq.read_table(folder / "data/prepared/train.parquet")
    assert train.schema.field("Sentiment").type == pa.string()
    assert "neutral" not in train.column("Sentiment").to_pylist()
    # The file was read twice (the late value widened the column): its rows are counted once.
    report = json.loads((folder / "metrics/split.json").read_text())
    written = {
        name: pq.read_metadata(folder / f"data/prepared/{name}.parquet").num_rows for name in report["rows"]
    }
    assert report["rows"] == written
    assert sum(written.values()) + sum(report["dropped"].values()) == len(table)


def test_a_bad_date_after_the_first_chunk_names_its_row(tmp_path: Path) -> None:
    rows = 3000
    table = frame(rows)
    table["Date"] = [f"2021-03-{1 + i % 28:02d}" for i in range(rows)]
    table.loc[2500, "Date"] = "not a date"
    folder = scratch(
        tmp_path,
        raw=table.to_csv(sep="\t", index=False),
        split={
            "method": "sequential",
            "time_column": "Date",
            "train": [1, 21],
            "valid": [21, 26],
            "test": [26, 32],
        },
    )
    assert_fails_cleanly("prepare_data", folder, "data/raw/reviews.tsv", "row 2501", "'not a date'")


LATIN1 = "PhraseId\tSentenceId\tPhrase\tSentiment\n1\t1\tfine\t4\n2\t1\tcaf\xe9 cr\xe8me\t2\n3\t2\tdull\t0\n"


@pytest.mark.parametrize("stage", ["prepare_data", "prepare_data.get"])
def test_latin1_is_refused_naming_row_line_and_byte_offset(tmp_path: Path, stage: str) -> None:
    raw = LATIN1.encode("latin-1")  # the bad row has label 2: dropped, but still refused
    folder = scratch(tmp_path, raw=raw)
    if stage == "prepare_data.get":
        (folder / "data/external").mkdir()
        (folder / "data/external/reviews.tsv").write_bytes(raw)
        folder = scratch(folder, raw=None, data={"source": "data/external/reviews.tsv"})
    offset = raw.index(b"\xe9")
    assert_fails_cleanly(
        stage, folder, "reviews.tsv: row 2 (line 3, byte offset", f"{offset}) is not UTF-8 (bytes e9", "iconv"
    )


def test_no_binary_text_column_is_ever_written(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_bytes(LATIN1.encode("latin-1"))
    with pytest.raises(PipelineError, match="is not UTF-8"):
        read_table(path)
    parquet = tmp_path / "reviews.parquet"
    pq.write_table(
        pa.table({"Phrase": pa.array([b"a", b"b"]), "Sentiment": [0, 4], "SentenceId": [1, 2]}), parquet
    )
    schema, batches = open_batches(parquet)
    with pytest.raises(
        PipelineError, match=r"column 'Phrase' \(data.text_column\) holds bytes, not UTF-8 text"
    ):
        split_stream(
            schema, batches, DATA, HASH, {name: pa.BufferOutputStream() for name in SPLITS}, str(parquet)
        )


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    folder = scratch(tmp_path, raw="PhraseId\tSentenceId\tPhrase\tPhrase\tSentiment\n1\t1\ta\tb\t4\n")
    assert_fails_cleanly(
        "prepare_data", folder, "column 'Phrase' appears twice in the header (columns 3 and 4)"
    )


def test_an_entirely_empty_text_column_is_refused_by_prepare_data(tmp_path: Path) -> None:
    folder = scratch(tmp_path, raw="PhraseId\tSentenceId\tPhrase\tSentiment\n1\t1\t\t4\n2\t2\t\t0\n")
    assert_fails_cleanly(
        "prepare_data", folder, "column 'Phrase' (data.text_column) is empty or NULL in every row"
    )


def test_parquet_bytes_in_a_csv_name_the_mistake_without_printing_them(tmp_path: Path) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"Phrase": ["a"], "Sentiment": [4]}), sink)
    folder = scratch(tmp_path, raw=sink.getvalue().to_pybytes(), raw_name="reviews.csv")
    result = run_module("prepare_data", folder, code=ROOT)
    assert result.stderr.strip().splitlines()[-1] == (
        "prepare_data: error: data/raw/reviews.csv: holds Parquet data, not delimited text: name it .parquet"
    )
    assert result.stderr.isprintable() or all(c.isprintable() or c == "\n" for c in result.stderr)


def test_a_wrong_field_count_in_a_later_chunk_names_its_row(tmp_path: Path) -> None:
    lines = [f"{i}\t{i}\tphrase {i}\t4" for i in range(2000)]
    lines[1499] = "1500\t1500\tphrase with a stray\ttab\t4"
    folder = scratch(tmp_path, raw="\t".join(HEADER) + "\n" + "\n".join(lines) + "\n")
    assert_fails_cleanly("prepare_data", folder, "row 1500 (line 1501): expected 4 fields, got 5")


@pytest.mark.parametrize("sep", ["\t", ","])
def test_a_quote_never_closed_names_the_row_where_it_opens(tmp_path: Path, sep: str) -> None:
    lines = [sep.join([str(i), str(i), f"phrase {i}", "4"]) for i in range(2000)]
    lines[1499] = sep.join(["1500", "1500", '"an opened quote', "4"])
    name = "reviews.tsv" if sep == "\t" else "reviews.csv"
    folder = scratch(tmp_path, raw=sep.join(HEADER) + "\n" + "\n".join(lines) + "\n", raw_name=name)
    assert_fails_cleanly(
        "prepare_data", folder, 'row 1500 (line 1501) opens a quoted field (") that the file never closes'
    )


def compressed(data: bytes, suffix: str) -> bytes:
    if suffix == ".gz":
        return gzip.compress(data, mtime=0)
    if suffix == ".bz2":
        return bz2.compress(data)
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def md5s(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((folder / "data/prepared").iterdir())
    }


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_compressed_inputs_give_the_same_splits_as_plain_ones(tmp_path: Path, suffix: str) -> None:
    plain = frame(2000, text=TRICKY).to_csv(sep="\t", index=False).encode()
    source = tmp_path / "external" / f"reviews.tsv{suffix}"
    source.parent.mkdir()
    source.write_bytes(compressed(plain, suffix))
    folder = scratch(tmp_path / "plain", raw=plain)
    assert run_module("prepare_data", folder, code=ROOT).returncode == 0
    packed = scratch(tmp_path / "packed", raw=None, data={"source": str(source), "source_dep": str(source)})
    got = run_module("prepare_data.get", packed, code=ROOT)
    assert got.returncode == 0, got.stderr
    assert (packed / f"data/raw/reviews.tsv{suffix}").read_bytes() == source.read_bytes()
    prepared = run_module("prepare_data", packed, code=ROOT)
    assert prepared.returncode == 0, prepared.stderr
    assert md5s(packed) == md5s(folder)


def test_a_compressed_file_without_its_suffix_is_named_as_such(tmp_path: Path) -> None:
    folder = scratch(tmp_path, raw=gzip.compress(b"a\tb\n1\t2\n"), raw_name="reviews.tsv")
    assert_fails_cleanly("prepare_data", folder, "is gzip-compressed: name it with .gz at the end")


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "reviews.csv.gz",
            gzip.compress(b"Phrase,Sentiment\n" + b"a,4\n" * 50_000, mtime=0)[:-200],
            "cannot be read: Truncated",
        ),
        (
            "reviews.csv.gz",
            b"Phrase,Sentiment\na,4\n",
            "is not gzip-compressed (it lacks the format's first bytes): name it without .gz",
        ),
        ("reviews.tsv.zst", b"\x28\xb5\x2f\xfdgarbage" * 10, "cannot be read: ZSTD decompress failed"),
    ],
    # Named ids: pytest-xdist workers must collect the same test names.
    ids=["truncated-gzip", "plain-text-named-gz", "garbage-zstd"],
)
def test_a_corrupt_compressed_file_is_one_line(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    folder = scratch(tmp_path, raw=data, raw_name=name)
    assert_fails_cleanly("prepare_data", folder, f"data/raw/{name}: ", expected)


def late_neutral() -> str:
    table = frame(3000)
    table["Sentiment"] = table["Sentiment"].astype(str)
    table.loc[2900, "Sentiment"] = "neutral"
    return table.to_csv(sep="\t", index=False)


@pytest.mark.parametrize(
    "raw",
    [
        late_neutral(),
        "\t".join(HEADER) + "\n1\t1\tfine\t4\n2\t1\tone\ttoo many\t0\n",
        LATIN1.encode("latin-1"),
    ],
    ids=["late-string", "field-count", "latin-1"],
)
def test_get_data_and_prepare_data_accept_and_refuse_the_same_files(tmp_path: Path, raw: str | bytes) -> None:
    data = raw.encode() if isinstance(raw, str) else raw
    folder = scratch(tmp_path, raw=None, data={"source": "data/external/reviews.tsv"})
    (folder / "data/external").mkdir(parents=True)
    (folder / "data/external/reviews.tsv").write_bytes(data)
    fetched = run_module("prepare_data.get", folder, code=ROOT)
    prepared = run_module("prepare_data", folder, code=ROOT) if fetched.returncode == 0 else None
    direct = run_module("prepare_data", scratch(tmp_path / "direct", raw=data), code=ROOT)
    if direct.returncode == 0:
        assert fetched.returncode == 0 and prepared is not None and prepared.returncode == 0, fetched.stderr
    else:
        assert fetched.returncode == 2
        refused = fetched.stderr.strip().splitlines()[-1].split("reviews.tsv: ", 1)[1]
        assert refused == direct.stderr.strip().splitlines()[-1].split("reviews.tsv: ", 1)[1]


def test_an_11_mb_quoted_csv_with_newlines_goes_through_get_data_and_prepare_data(tmp_path: Path) -> None:
    # The case: accepted at 239 KB, refused at 11 MB (a 4 MiB chunk cut a quoted field).
    rows = 250_000
    table = frame(rows, text=TRICKY)
    folder = scratch(tmp_path, raw=None, data={"source": "data/external/reviews.csv"})
    (folder / "data/external").mkdir(parents=True)
    table.to_csv(folder / "data/external/reviews.csv", index=False)
    assert (folder / "data/external/reviews.csv").stat().st_size > 11_000_000
    for stage in ("prepare_data.get", "prepare_data"):
        result = run_module(stage, folder, code=ROOT)
        assert result.returncode == 0, result.stderr
    report = yaml.safe_load((folder / "metrics/split.json").read_text())
    mapped = int(table["Sentiment"].isin([0, 4]).sum())
    assert sum(report["rows"].values()) + report["dropped"]["unassigned"] == mapped
    train = pq.read_table(folder / "data/prepared/train.parquet")
    assert set(train.column("Phrase").to_pylist()) <= {TRICKY.format(i=i) for i in range(rows)}


def test_a_folder_or_a_pipe_is_not_called_missing(tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")
    for name in ("folder.csv", "pipe.csv"):
        with pytest.raises(PipelineError, match=r"not a regular file \(a folder, a pipe or a device\)$"):
            check_input_file(tmp_path / name)
    with pytest.raises(PipelineError, match=r"absent\.csv: file not found$"):
        check_input_file(tmp_path / "absent.csv")
