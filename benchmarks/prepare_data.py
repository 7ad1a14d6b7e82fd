"""Benchmark of the prepare_data stage against polars, DuckDB, the original pipeline and the I/O floor.

Generates N rows shaped like the default data set (``PhraseId, SentenceId, Phrase,
Sentiment``; ~8 phrases per sentence, sub-spans of it) as a TSV in a temp folder, then runs,
each as a whole process of its own on the same file (interpreter start and imports included,
as a user or ``dvc repro`` sees it), in the same run:

- ``ours``: ``python -m prepare_data`` with the default ``split`` params;
- ``polars``: the same split with polars' own hash (``hash(SentenceId) % modulus``): read,
  keep labels 0 and 4, label, bucket, one parquet file per split. Not BigQuery's buckets, and
  no split report: what a user would write instead of this stage;
- ``duckdb``: the same with DuckDB's own ``hash``, one ``COPY ... TO`` per split;
- ``original``: the original pipeline: pandas ``read_csv``, keep labels 0 and 4, a row-wise
  ``apply`` for the label, ``train_test_split``, ``to_parquet``;
- ``floor``: a pyarrow read with the same options as ours, the same label filter, one parquet
  write (pyarrow's defaults), no hashing.

polars and DuckDB are not project dependencies: their legs are skipped, with a notice, when
they are not installed (``pip install polars duckdb``).

Each leg runs ``--repeat`` times (5), interleaved, so that load from other processes hits all
legs alike. Printed per leg: the median and min-max wall time, the paired ratio to ours (each
run divided by the run of ours in the same round: median and min-max), the peak RSS (VmHWM,
the process's own high-water mark; ``ru_maxrss`` would also count the parent's memory at
fork) and the median CPU seconds (all threads). The load average is printed before and after.

``--key PhraseId`` splits by another key (all distinct: every key hashed once per row);
``--baseline DIR ...`` adds a leg per folder, named after it: the stage of another checkout
(``git archive main | tar -x -C /tmp/before``) on the same file, interleaved with ours: a
change's before and after in one run. The outputs of ours and of every baseline
(``data/prepared/*.parquet`` and ``metrics/split*.json``) are compared byte for byte in every
round; a difference stops the run. ``--legs`` picks legs (``original`` takes minutes at 10M rows).

    .venv/bin/python benchmarks/prepare_data.py            # 1K, 1M and 10M rows
    .venv/bin/python benchmarks/prepare_data.py --rows 200000
    .venv/bin/python benchmarks/prepare_data.py --legs ours polars duckdb --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import importlib.util
import os
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # for the annotations only: at run time each leg imports what it uses
    import numpy as np
    import pyarrow as pa

# Only the standard library at the top: each leg's process imports what it uses, no more.
ROOT = Path(__file__).resolve().parent.parent
CHUNK_SENTENCES = 100_000
KEY, LABELS, MODULUS = "SentenceId", (0, 4), 10  # the default params, for the peers' legs
SPLIT_RANGES = {"train": (0, 8), "valid": (8, 9), "test": (9, 10)}
OUTPUTS = ("data/prepared/train.parquet", "data/prepared/valid.parquet", "data/prepared/test.parquet")


def _sentences(rng: np.random.Generator, count: int, first_id: int) -> pa.Table:
    """``count`` sentences' phrases: the sentence itself plus 2..13 sub-spans, like synthetic.py."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from prepare_data.synthetic import POLARITY, VOCABULARY

    lengths = rng.integers(6, 26, size=count)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    words = rng.integers(0, len(VOCABULARY), size=int(lengths.sum()))
    spans = rng.integers(3, 15, size=count)  # phrases per sentence, the full sentence included
    sentence = np.repeat(np.arange(count), spans)
    length = lengths[sentence]
    span_start = (rng.random(len(sentence)) * length).astype(np.int64)
    span_stop = span_start + 1 + (rng.random(len(sentence)) * (length - span_start)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(spans)[:-1]])
    span_start[first], span_stop[first] = 0, length[first]
    span_length = span_stop - span_start
    offsets = np.concatenate([[0], np.cumsum(span_length)]).astype(np.int32)
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], span_length)
    flat = words[np.repeat(starts[sentence] + span_start, span_length) + within]
    phrase_words = pa.ListArray.from_arrays(pa.array(offsets), pc.take(pa.array(VOCABULARY), pa.array(flat)))
    score = np.add.reduceat(POLARITY[flat], offsets[:-1]) + rng.normal(0.0, 2.0, size=len(sentence))
    return pa.table(
        {
            "SentenceId": pa.array(first_id + sentence, pa.int64()),
            "Phrase": pc.binary_join(phrase_words, " "),
            "Sentiment": pa.array(np.digitize(score, [-2.5, -0.75, 0.75, 2.5]), pa.int64()),
        }
    )


def generate_tsv(path: Path, rows: int, seed: int = 42) -> None:
    """Write ``rows`` phrases as an unquoted TSV, chunk by chunk (flat memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.Generator(np.random.PCG64(seed))
    # pyarrow quotes header names whatever the quoting style: write the header line ourselves.
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    schema = pa.schema(
        [
            ("PhraseId", pa.int64()),
            ("SentenceId", pa.int64()),
            ("Phrase", pa.string()),
            ("Sentiment", pa.int64()),
        ]
    )
    written, next_sentence = 0, 1
    with open(path, "wb") as sink, pacsv.CSVWriter(sink, schema, write_options=options) as writer:
        sink.write(("\t".join(schema.names) + "\n").encode())
        while written < rows:
            chunk = _sentences(rng, CHUNK_SENTENCES, next_sentence).slice(0, rows - written)
            next_sentence += CHUNK_SENTENCES
            phrase_id = pa.array(np.arange(written + 1, written + chunk.num_rows + 1), pa.int64())
            writer.write_table(chunk.add_column(0, "PhraseId", phrase_id).cast(schema))
            written += chunk.num_rows


def _print_peak() -> None:
    """Print this process's peak RSS for ``run_leg``, at exit (after the leg's last byte)."""
    status = Path("/proc/self/status").read_text()
    print(f"peak_kib={int(status.split('VmHWM:')[1].split()[0])}", flush=True)


_real_exit = os._exit


def _exit_after_printing_peak(status: int) -> NoReturn:
    _print_peak()
    _real_exit(status)


def leg_ours(source: Path, workdir: Path, root: Path = ROOT, key: list[str] | None = None) -> None:
    """The stage of checkout ``root``, as ``dvc repro`` runs it (``python -m prepare_data``),
    on ``source`` with its params (``key``: another ``split.key``)."""
    import yaml

    (workdir / "data/raw").mkdir(parents=True)
    (workdir / "data/raw/reviews.tsv").symlink_to(source)
    # Not common.params.read_params_yaml: importing common here would make a baseline checkout
    # run this checkout's common package. The default params hold no YAML 1.1/1.2 ambiguity.
    params = yaml.safe_load((root / "params.yaml").read_text())
    if key is not None:
        params["split"]["key"] = key
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # What ``python -m prepare_data`` would import, and only that: yaml is imported by the
    # stage too, and this process's own imports are the standard library's.
    os.chdir(workdir)
    sys.path[0] = str(root)
    runpy.run_module("prepare_data", run_name="__main__", alter_sys=True)


def leg_polars(source: Path, workdir: Path) -> None:
    """The split as a polars user would write it: polars' own hash, three parquet files."""
    import polars as pl

    frame = (
        pl.scan_csv(source, separator="\t", quote_char=None)
        .filter(pl.col("Sentiment").is_in(LABELS))
        .with_columns(
            label=(pl.col("Sentiment") == LABELS[1]).cast(pl.Int8),
            bucket=pl.col(KEY).hash() % MODULUS,
        )
        .collect()
    )
    for name, (lo, hi) in SPLIT_RANGES.items():
        part = frame.filter(pl.col("bucket").is_between(lo, hi, closed="left")).drop("bucket")
        part.write_parquet(workdir / f"{name}.parquet")


def leg_duckdb(source: Path, workdir: Path) -> None:
    """The split as a DuckDB user would write it: DuckDB's own hash, a COPY per split."""
    import duckdb

    connection = duckdb.connect()
    connection.execute(
        f"""CREATE TEMP TABLE labelled AS
        SELECT *, CAST(Sentiment = {LABELS[1]} AS TINYINT) AS label, hash({KEY}) % {MODULUS} AS bucket
        FROM read_csv('{source}', delim = '\t', quote = '', header = true)
        WHERE Sentiment IN {LABELS}"""
    )
    for name, (lo, hi) in SPLIT_RANGES.items():
        connection.execute(
            f"COPY (SELECT * EXCLUDE (bucket) FROM labelled WHERE bucket >= {lo} AND bucket < {hi}) "
            f"TO '{workdir / name}.parquet' (FORMAT parquet)"
        )


def leg_original(source: Path, workdir: Path) -> None:
    """The original pipeline's prepare step: pandas, a row-wise apply, train_test_split."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(source, sep="\t")
    frame = frame[frame["Sentiment"].isin([0, 4])]
    frame["label"] = frame.apply(lambda row: 0 if row["Sentiment"] == 0 else 1, axis=1)
    train, rest = train_test_split(frame, test_size=0.2, random_state=42)
    valid, test = train_test_split(rest, test_size=0.5, random_state=42)
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        part.to_parquet(workdir / f"{name}.parquet")


def leg_floor(source: Path, workdir: Path) -> None:
    """The I/O floor: pyarrow read with our options, the same label filter, one parquet write."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    sys.path[0] = str(ROOT)
    from common.tables import csv_options

    read, parse = csv_options(source)
    table = pacsv.read_csv(source, read_options=read, parse_options=parse)
    mask = pc.or_(pc.equal(table["Sentiment"], LABELS[0]), pc.equal(table["Sentiment"], LABELS[1]))
    pq.write_table(table.filter(mask), workdir / "prepared.parquet")


LEGS = {
    "ours": leg_ours,
    "polars": leg_polars,
    "duckdb": leg_duckdb,
    "original": leg_original,
    "floor": leg_floor,
}
OPTIONAL_LEGS = {"polars": "polars", "duckdb": "duckdb"}  # leg: the module it needs


def available_legs(legs: list[str]) -> list[str]:
    """``legs`` without those whose library is not installed (with a notice for each)."""
    kept = []
    for leg in legs:
        module = OPTIONAL_LEGS.get(leg)
        if module and importlib.util.find_spec(module) is None:
            print(f"notice: leg {leg} skipped: {module} is not installed (pip install {module})")
            continue
        kept.append(leg)
    return kept


def output_digests(workdir: Path) -> dict[str, str]:
    """md5 of each output of the stage in ``workdir`` (the splits and the split metrics)."""
    paths = [workdir / name for name in OUTPUTS] + sorted((workdir / "metrics").glob("split*.json"))
    return {str(p.relative_to(workdir)): hashlib.md5(p.read_bytes()).hexdigest() for p in paths}


def run_leg(leg: str, source: Path, workdir: Path, options: argparse.Namespace) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MiB, CPU seconds) of one leg, run as a process of its own."""
    workdir.mkdir()
    command = [sys.executable, __file__, "--input", str(source), "--workdir", str(workdir)]
    baselines = {folder.name: folder for folder in options.baseline or ()}
    if leg == "ours" or leg in baselines:
        command += ["--leg", "ours", "--root", str(baselines.get(leg, ROOT))]
        command += ["--key", *options.key] if options.key is not None else []
    else:
        command += ["--leg", leg]
    # The children's CPU clock, before and after: one child at a time, so the difference is its.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"leg {leg} failed with exit code {result.returncode}:\n{result.stderr}")
    peak = [line for line in result.stdout.splitlines() if line.startswith("peak_kib=")][-1]
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, int(peak.split("=")[1]) / 1024, cpu


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def benchmark(rows: int, scratch: Path, repeat: int, legs: list[str], options: argparse.Namespace) -> dict:
    """Each leg ``repeat`` times, interleaved; a table of times, paired ratios to ours, peaks."""
    source = scratch / f"reviews_{rows}.tsv"
    generate_tsv(source, rows)
    key = f", split.key {options.key}" if options.key is not None else ""
    print(
        f"\n{rows:,} rows, {source.stat().st_size / 2**20:.0f} MiB TSV{key}, {repeat} runs of each; "
        f"load average {_load()}",
        flush=True,
    )
    compared = {"ours", *(folder.name for folder in options.baseline or ())}
    runs: dict[str, list[tuple[float, float, float]]] = {leg: [] for leg in legs}
    for attempt in range(repeat):
        digests = {}
        for leg in legs:
            workdir = scratch / f"{leg}_{rows}_{attempt}"
            runs[leg].append(run_leg(leg, source, workdir, options))
            if leg in compared:
                digests[leg] = output_digests(workdir)
            shutil.rmtree(workdir)
        if len(set(map(str, digests.values()))) > 1:
            raise SystemExit(f"outputs differ between {', '.join(digests)}:\n{digests}")
    source.unlink()
    if len(compared & set(legs)) > 1:
        print(f"  outputs of {', '.join(sorted(compared & set(legs)))}: identical in every run", flush=True)
    print(f"  {'':<9} {'wall s, median [min-max]':>26} {'/ours, paired':>22} {'peak RSS':>9} {'CPU s':>7}")
    for leg, results in runs.items():
        seconds = [r[0] for r in results]
        ratio = (
            ""
            if "ours" not in runs
            else _spread([s / o[0] for s, o in zip(seconds, runs["ours"], strict=True)], ".2f")
        )
        print(
            f"  {leg:<9} {_spread(seconds, '.3f'):>26} {ratio:>22} {max(r[1] for r in results):6.0f} MiB "
            f"{statistics.median(r[2] for r in results):7.2f}",
            flush=True,
        )
    print(f"  load average after: {_load()}", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each leg (median and min-max shown)")
    parser.add_argument("--key", nargs="+", metavar="COLUMN", help="split.key of ours (and baselines)")
    parser.add_argument("--baseline", type=Path, nargs="+", metavar="DIR", help="other checkouts, as legs")
    parser.add_argument("--legs", nargs="+", choices=LEGS, help="legs to run (default: all)")
    parser.add_argument("--leg", choices=LEGS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg:
        atexit.register(_print_peak)
        # The stages end with os._exit (common/stage.py: exit_now), which skips atexit.
        os._exit = _exit_after_printing_peak
        if args.leg == "ours":
            leg_ours(args.input, args.workdir, args.root, args.key)
        else:
            LEGS[args.leg](args.input, args.workdir)
        return
    sys.path.insert(0, str(ROOT))  # generate_tsv's vocabulary
    legs = available_legs([*(args.legs or LEGS), *(folder.name for folder in args.baseline or ())])
    with tempfile.TemporaryDirectory(prefix="bench-prepare-data-") as scratch:
        results = {rows: benchmark(rows, Path(scratch), args.repeat, legs, args) for rows in args.rows}
    if len(results) > 1 and "ours" in legs:
        small, large = sorted(results)[-2:]
        growth = max(r[1] for r in results[large]["ours"]) / max(r[1] for r in results[small]["ours"])
        print(f"\npeak RSS of ours at {large:,} rows: {growth:.2f}x that at {small:,} rows")


if __name__ == "__main__":
    main()
