"""prepare_data's split on the local engine against split.engine: spark (local[N]), same run.

For each size: get_data's synthetic reviews as a TSV; the local engine (``split_stream``, as
``python -m prepare_data`` runs it) and the Spark engine (``spark_engine.split``) on the
same file, each in this process; the Spark session is started once, and its start-up is
printed apart. Prints the seconds of each and whether the files, report and plot data are the
same bytes.

    python spark_engine/benchmark.py                        # 1M and 10M rows, local[2]
    python spark_engine/benchmark.py --rows 100000 --master 'local[*]'
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    from common.params import DataParams, SplitParams
    from common.tables import read_whole
    from prepare_data.report import SplitStats
    from prepare_data.split import SPLITS, split_stream
    from prepare_data.synthetic import generate_reviews, to_tsv
    from spark_engine.split import spark_session, spark_split

    data, split = DataParams(), SplitParams()
    start = time.perf_counter()
    session = spark_session(args.master)
    print(f"Spark session on {args.master}: {time.perf_counter() - start:.1f} s to start")
    print("rows        local s  spark s  spark/local  same bytes")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp)
            raw = folder / "reviews.tsv"
            raw.write_bytes(to_tsv(generate_reviews(rows, seed=42)))
            outputs = {}
            seconds = {}
            for engine in ("local", "spark"):
                out = folder / engine
                out.mkdir()
                sinks = {name: out / f"{name}.parquet" for name in SPLITS}
                start = time.perf_counter()
                if engine == "local":
                    stats = SplitStats(split)
                    use = functools.partial(
                        split_stream, data=data, split=split, sinks=sinks, source=str(raw), stats=stats
                    )
                    report = read_whole(raw, use)
                    plots = stats.plot_data()
                else:
                    report, plots = spark_split(raw, data, split, sinks, session=session)
                seconds[engine] = time.perf_counter() - start
                outputs[engine] = (report, plots, [p.read_bytes() for p in sinks.values()])
            same = outputs["local"] == outputs["spark"]
            print(
                f"{rows:<10}  {seconds['local']:7.1f}  {seconds['spark']:7.1f}  "
                f"{seconds['spark'] / seconds['local']:11.1f}  {same}",
                flush=True,
            )
    session.stop()


if __name__ == "__main__":
    main()
