"""Benchmark of ``python -m predict`` against a plain pandas scoring of the same file.

Builds, in a temp folder, a logreg model (the default pipeline, trained on 50,000 synthetic
phrases) and a parquet file of N rows (``PhraseId``, ``Phrase``: the default data's phrases
repeated, unique ids), then runs, each in its own subprocess on the same file, in the same
run, ``--repeat`` times interleaved:

- ``ours``: ``python -m predict --input F --output O --key PhraseId --model M`` (one process,
  the default), and ``ours-2``: the same with ``--workers 2`` (two scoring processes);
- ``plain``: ``pandas.read_parquet`` -> the pipeline's ``predict_proba`` on every text ->
  ``to_parquet`` of the key and the score (the model loaded through the same hash check).

It prints rows/s of each leg (best of the repeats), ours and ours-2 against plain, and each
leg's peak RSS (``ru_maxrss`` from ``wait4``: the largest of the leg's processes;
ours-2 runs a main process and two workers).

    .venv/bin/python benchmarks/predict.py                 # 1M and 10M rows
    .venv/bin/python benchmarks/predict.py --rows 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.params import TrainParams  # noqa: E402
from prepare_data.synthetic import generate_reviews  # noqa: E402
from train.model_store import save_sklearn  # noqa: E402
from train.registry import build_pipeline  # noqa: E402
from train.sklearn_models import fit_pipeline  # noqa: E402

PLAIN = """
import sys
import pandas as pd
from train.model_store import load_scorer
source, output, model = sys.argv[1:]
frame = pd.read_parquet(source)
scorer = load_scorer(__import__("pathlib").Path(model))
frame = frame[["PhraseId"]].assign(score=scorer.score(frame["Phrase"].tolist()))
frame.to_parquet(output)
"""


def build_inputs(folder: Path, rows: int) -> tuple[Path, Path]:
    reviews = generate_reviews(50_000, seed=42)
    texts = np.array(reviews["Phrase"], dtype=object)
    labels = np.isin(np.array(reviews["Sentiment"]), [3, 4]).astype(np.int8)
    model = folder / "model"
    fitted = fit_pipeline(build_pipeline(TrainParams()), list(texts), labels)
    save_sklearn(fitted, {"model": "logreg"}, model)
    source = folder / f"rows-{rows}.parquet"
    pool = pa.array(texts)
    with pq.ParquetWriter(source, pa.schema({"PhraseId": pa.int64(), "Phrase": pa.string()})) as writer:
        for start in range(0, rows, 1 << 20):
            count = min(1 << 20, rows - start)
            ids = np.arange(start, start + count, dtype=np.int64)
            writer.write_table(pa.table({"PhraseId": ids, "Phrase": pool.take(ids % len(pool))}))
    return source, model


def run_leg(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``command`` in a fresh subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    pid = subprocess.Popen(command, cwd=ROOT, env=env).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status})")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| rows | ours rows/s (rows/min) | ours-2 rows/s | plain rows/s | ours / plain | ours-2 / plain | peak RSS ours / ours-2 / plain |"
    )
    print("|---|---|---|---|---|---|---|")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-predict-") as name:
            folder = Path(name)
            source, model = build_inputs(folder, rows)
            ours = [
                sys.executable,
                "-m",
                "predict",
                "--input",
                str(source),
                "--key",
                "PhraseId",
                "--model",
                str(model),
            ]
            legs = {
                "ours": [*ours, "--output", str(folder / "ours.parquet")],
                "ours-2": [*ours, "--output", str(folder / "ours-2.parquet"), "--workers", "2"],
                "plain": [
                    sys.executable,
                    "-c",
                    PLAIN,
                    str(source),
                    str(folder / "plain.parquet"),
                    str(model),
                ],
            }
            times: dict[str, list[float]] = {leg: [] for leg in legs}
            peaks: dict[str, float] = dict.fromkeys(legs, 0.0)
            for _ in range(args.repeat):
                for leg, command in legs.items():
                    seconds, peak = run_leg(command)
                    times[leg].append(seconds)
                    peaks[leg] = max(peaks[leg], peak)
                    print(
                        f"{leg} {rows:,} rows: {seconds:.2f} s, peak RSS {peak:.0f} MiB",
                        file=sys.stderr,
                        flush=True,
                    )
            scored = pq.read_table(folder / "ours.parquet")
            plain = pq.read_table(folder / "plain.parquet")
            assert scored["PhraseId"].equals(plain["PhraseId"]) and np.allclose(
                scored["score"], plain["score"]
            )
            assert (folder / "ours.parquet").read_bytes() == (folder / "ours-2.parquet").read_bytes()
            rate = {leg: rows / min(values) for leg, values in times.items()}
            print(
                f"| {rows:,} | {rate['ours']:,.0f} ({rate['ours'] * 60 / 1e6:.1f}M) | {rate['ours-2']:,.0f} "
                f"| {rate['plain']:,.0f} | {rate['ours'] / rate['plain']:.2f}x | {rate['ours-2'] / rate['plain']:.2f}x "
                f"| {peaks['ours']:.0f} / {peaks['ours-2']:.0f} / {peaks['plain']:.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
