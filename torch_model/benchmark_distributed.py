"""Torch training on 1 and N processes (``train.torch.processes``), in the same run.

The default data (get_data's synthetic reviews, split by prepare_data with the default params)
in a temp folder; ``python -m train`` with ``train.model: torch`` and the default torch
params on the CPU, once per process count, interleaved over the repeats. Prints per run the
stage's wall time, the examples trained per second of it (start-up of torch.distributed.run
and data reading included), the test accuracy of the model, and whether the model bytes repeat.

    python torch_model/benchmark_distributed.py                   # 1 and 2 processes, 1 run each
    python torch_model/benchmark_distributed.py --processes 1 2 --repeats 2 --rows 20000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_folder(folder: Path, rows: int) -> None:
    """data/prepared/{train,valid,test}.parquet of the default data: get_data and prepare_data
    run in ``folder`` as dvc runs them, with the default params but ``rows``."""
    (folder / "params.yaml").write_text(yaml.safe_dump({"data": {"synthetic_rows": rows}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for stage in ("prepare_data.get", "prepare_data"):
        subprocess.run([sys.executable, "-m", stage], cwd=folder, env=env, check=True, capture_output=True)


def run(folder: Path, processes: int, device: str) -> dict[str, object]:
    """``python -m train`` in ``folder`` with ``processes``; its time, examples, accuracy, digest."""
    for leftover in ("model", "checkpoints", "metrics"):
        subprocess.run(["rm", "-rf", str(folder / leftover)], check=True)
    params = {"train": {"model": "torch", "torch": {"device": device, "processes": processes}}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "train"], cwd=folder, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    meta = json.loads((folder / "model/meta.json").read_text())
    from common.prepared import read_split
    from train.model_store import load_scorer

    texts, labels = read_split("test", "Phrase", folder / "data/prepared")
    _, predicted = load_scorer(folder / "model").predict(texts)
    accuracy = float(np.mean(predicted == labels))
    digest = hashlib.sha256((folder / "model/model.pt").read_bytes()).hexdigest()[:12]
    return {
        "seconds": seconds,
        "examples": meta["examples_seen"],
        "accuracy": accuracy,
        "digest": digest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rows", type=int, default=50_000, help="synthetic rows (get_data's default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_folder(folder, args.rows)
        print(
            f"torch, default params, {args.rows} synthetic rows, device {args.device}, {os.cpu_count()} CPUs"
        )
        print("processes  stage s  examples/s  test accuracy  model digest")
        for _ in range(args.repeats):
            for processes in args.processes:
                result = run(folder, processes, args.device)
                rate = float(result["examples"]) / float(result["seconds"])  # type: ignore[arg-type]
                print(
                    f"{processes:>9}  {result['seconds']:7.1f}  {rate:10.0f}  {result['accuracy']:13.4f}  "
                    f"{result['digest']}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
