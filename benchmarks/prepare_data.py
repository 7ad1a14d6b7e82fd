"""Benchmark of the prepare_data stage against the original pipeline and the I/O floor.

Generates N rows shaped like the default data set (``PhraseId, SentenceId, Phrase,
Sentiment``; ~8 phrases per sentence, sub-spans of it) as a TSV in a temp folder, then runs,
each in its own subprocess on the same file, in the same run:

- ``ours``: ``python -m prepare_data`` with the default ``split`` params;
- ``original``: the original pipeline: pandas ``read_csv``, keep labels 0 and 4, a row-wise
  ``apply`` for the label, ``train_test_split``, ``to_parquet``;
- ``floor``: a pyarrow read with the same options as ours, the same label filter, one parquet
  write (pyarrow's defaults), no hashing.

Each leg runs ``--repeat`` times (5), interleaved. It prints each leg's best and median wall
time, the ratios ours/floor and original/ours of both, and each leg's peak RSS.

``--key PhraseId`` splits by another key (all distinct: every key hashed once per row);
``--baseline DIR ...`` adds a leg per folder, named after it: the stage of another checkout
(``git worktree add /tmp/before HEAD``) on the same file, interleaved with ours: a change's
before and after (or several variants) in one run. ``--legs`` picks legs (``original`` takes minutes at 10M rows).

    .venv/bin/python benchmarks/prepare_data.py            # 1M and 10M rows
    .venv/bin/python benchmarks/prepare_data.py --rows 200000
    .venv/bin/python benchmarks/prepare_data.py --legs ours floor --baseline /tmp/before --key PhraseId
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from common.params import read_params_yaml

ROOT = Path(__file__).resolve().parent.parent
CHUNK_SENTENCES = 100_000


def _sentences(rng: np.random.Generator, count: int, first_id: int) -> pa.Table:
    """``count`` sentences' phrases: the sentence itself plus 2..13 sub-spans, like synthetic.py."""
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


def leg_ours(source: Path, workdir: Path, root: Path = ROOT, key: list[str] | None = None) -> None:
    """The stage of checkout ``root``, as ``dvc repro`` runs it, on ``source`` with its params
    (``key``: another ``split.key``)."""
    (workdir / "data/raw").mkdir(parents=True)
    (workdir / "data/raw/reviews.tsv").symlink_to(source)
    params = read_params_yaml(root / "params.yaml")
    if key is not None:
        params["split"]["key"] = key
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    os.chdir(workdir)
    sys.path.insert(0, str(root))
    from prepare_data.__main__ import main

    start = _start_clocks()
    main()
    report_time(start)


def leg_original(source: Path, workdir: Path) -> None:
    """The original pipeline's prepare step: pandas, a row-wise apply, train_test_split."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    start = _start_clocks()
    frame = pd.read_csv(source, sep="\t")
    frame = frame[frame["Sentiment"].isin([0, 4])]
    frame["label"] = frame.apply(lambda row: 0 if row["Sentiment"] == 0 else 1, axis=1)
    train, rest = train_test_split(frame, test_size=0.2, random_state=42)
    valid, test = train_test_split(rest, test_size=0.5, random_state=42)
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        part.to_parquet(workdir / f"{name}.parquet")
    report_time(start)


def leg_floor(source: Path, workdir: Path) -> None:
    """The I/O floor: pyarrow read with our options, the same label filter, one parquet write."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT))
    from common.tables import csv_options

    # Built before the clock starts, like every leg's imports: pyarrow's first conversion of a
    # Python list imports pandas (about 0.2 s), which would flatter our ratio to the floor.
    labels = pa.array([0, 4])
    start = _start_clocks()
    read, parse = csv_options(source)
    table = pacsv.read_csv(source, read_options=read, parse_options=parse)
    table = table.filter(pc.is_in(table["Sentiment"], labels))
    pq.write_table(table, workdir / "prepared.parquet")
    report_time(start)


START_CPU = 0.0  # process_time when a leg's clock starts (set by each leg)
LEGS = {"ours": leg_ours, "original": leg_original, "floor": leg_floor}
LEG_NAMES = ("ours", "original", "floor")


def _start_clocks() -> float:
    global START_CPU
    START_CPU = time.process_time()
    return time.perf_counter()


def report_time(start: float) -> None:
    """Print the leg's seconds, CPU seconds (all threads, since ``start``) and peak RSS for
    ``run_leg``. The peak is VmHWM, this process's own high-water mark: ru_maxrss of a child
    also counts the parent's memory at fork."""
    seconds = time.perf_counter() - start
    cpu = time.process_time() - START_CPU
    status = Path("/proc/self/status").read_text()
    peak_kib = int(status.split("VmHWM:")[1].split()[0])
    print(f"seconds={seconds:.6f} cpu={cpu:.6f} peak_kib={peak_kib}", flush=True)


def run_leg(leg: str, source: Path, workdir: Path, options: argparse.Namespace) -> tuple[float, float, float]:
    """(seconds of work, peak RSS in MiB, CPU seconds) of one leg, run in its own process."""
    workdir.mkdir()
    command = [sys.executable, __file__, "--input", str(source), "--workdir", str(workdir)]
    baselines = {folder.name: folder for folder in options.baseline or ()}
    if leg == "ours" or leg in baselines:
        command += ["--leg", "ours", "--root", str(baselines.get(leg, ROOT))]
        command += ["--key", *options.key] if options.key is not None else []
    else:
        command += ["--leg", leg]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"leg {leg} failed with exit code {result.returncode}:\n{result.stderr}")
    fields = dict(item.split("=") for item in result.stdout.strip().splitlines()[-1].split())
    return float(fields["seconds"]), int(fields["peak_kib"]) / 1024, float(fields["cpu"])


def benchmark(
    rows: int, scratch: Path, repeat: int, legs: list[str], options: argparse.Namespace
) -> dict[str, tuple[float, float, float]]:
    """Each leg ``repeat`` times, interleaved (so that load from other processes hits all
    legs alike); the fastest and the median time and the highest peak RSS of each leg."""
    source = scratch / f"reviews_{rows}.tsv"
    generate_tsv(source, rows)
    key = f", split.key {options.key}" if options.key is not None else ""
    print(
        f"\n{rows:,} rows, {source.stat().st_size / 2**20:.0f} MiB TSV{key}, {repeat} runs of each",
        flush=True,
    )
    runs: dict[str, list[tuple[float, float, float]]] = {leg: [] for leg in legs}
    for attempt in range(repeat):
        for leg in legs:
            workdir = scratch / f"{leg}_{rows}_{attempt}"
            runs[leg].append(run_leg(leg, source, workdir, options))
            shutil.rmtree(workdir)
    source.unlink()
    results = {
        leg: (min(t for t, _, _ in r), statistics.median(t for t, _, _ in r), max(m for _, m, _ in r))
        for leg, r in runs.items()
    }
    # CPU time varies less than wall time on a machine shared with other jobs.
    print(f"  {'':<9} {'best':>8}   {'median':>8}   peak RSS   CPU median")
    for leg, (best, median, rss) in results.items():
        cpu = statistics.median(c for _, _, c in runs[leg])
        print(f"  {leg:<9} {best:8.3f} s {median:8.3f} s {rss:7.0f} MiB {cpu:8.3f} s", flush=True)
    for kind, column in (("best", 0), ("median", 1)):
        ratios = [
            f"{leg}/floor {results[leg][column] / results['floor'][column]:.3f}x"
            for leg in results
            if leg not in ("original", "floor") and "floor" in results
        ]
        if "original" in results and "ours" in results:
            ratios.append(f"original/ours {results['original'][column] / results['ours'][column]:.1f}x")
        print(f"  {kind:<6} " + "   ".join(ratios), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each leg (best and median shown)")
    parser.add_argument("--key", nargs="+", metavar="COLUMN", help="split.key of ours (and baselines)")
    parser.add_argument("--baseline", type=Path, nargs="+", metavar="DIR", help="other checkouts, as legs")
    parser.add_argument("--legs", nargs="+", choices=LEG_NAMES, help="legs to run (default: all)")
    parser.add_argument("--leg", choices=LEGS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg == "ours":
        leg_ours(args.input, args.workdir, args.root, args.key)
        return
    if args.leg:
        LEGS[args.leg](args.input, args.workdir)
        return
    sys.path.insert(0, str(ROOT))  # generate_tsv's vocabulary
    legs = [*(args.legs or LEG_NAMES), *(folder.name for folder in args.baseline or ())]
    with tempfile.TemporaryDirectory(prefix="bench-prepare-data-") as scratch:
        results = {rows: benchmark(rows, Path(scratch), args.repeat, legs, args) for rows in args.rows}
    if len(results) > 1 and "ours" in legs:
        small, large = min(results), max(results)
        growth = results[large]["ours"][2] / results[small]["ours"][2]
        print(f"\npeak RSS of ours at {large:,} rows: {growth:.2f}x that at {small:,} rows")


if __name__ == "__main__":
    main()
