"""Size and load time of a scikit-learn model as a skops file (what train writes) against the
pickle it replaced (issue 21: a model file that cannot run code).

The default pipeline (TF-IDF + ``train.model``) fitted on ``--rows`` synthetic phrases, saved
both ways; then each is loaded ``--repeats`` times in this process (the median is printed),
and the skops/pickle ratios. A skops load checks every type against the trusted list and
builds the objects node by node; a pickle load trusts the file.

    .venv/bin/python benchmarks/model_format.py [--rows 50000] [--repeats 20] [--model logreg]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.params import TrainParams  # noqa: E402
from prepare_data.synthetic import generate_reviews  # noqa: E402
from train.registry import build_pipeline  # noqa: E402
from train.sklearn_models import fit_pipeline, load_pipeline, pipeline_bytes  # noqa: E402


def median_seconds(load: object, data: bytes, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load(data)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default="logreg", choices=["logreg", "svm", "nb"])
    args = parser.parse_args()
    reviews = generate_reviews(args.rows, seed=42)
    labels = np.array([1 if s >= 3 else 0 for s in reviews["Sentiment"]])
    pipeline = fit_pipeline(build_pipeline(TrainParams(model=args.model)), reviews["Phrase"], labels)
    skops_bytes = pipeline_bytes(pipeline)
    pickle_bytes = pickle.dumps(pipeline, protocol=5)
    skops_s = median_seconds(lambda data: load_pipeline(data, "model/model.skops"), skops_bytes, args.repeats)
    pickle_s = median_seconds(pickle.loads, pickle_bytes, args.repeats)
    print(f"{args.model} on {args.rows} rows, median of {args.repeats} loads")
    print(f"{'format':8} {'bytes':>12} {'load ms':>10}")
    print(f"{'pickle':8} {len(pickle_bytes):12,d} {pickle_s * 1000:10.2f}")
    print(f"{'skops':8} {len(skops_bytes):12,d} {skops_s * 1000:10.2f}")
    print(
        f"skops/pickle: size {len(skops_bytes) / len(pickle_bytes):.2f}x, load time {skops_s / pickle_s:.1f}x"
    )


if __name__ == "__main__":
    main()
