"""Load benchmark of ``python -m serve`` against a baseline built like the original service.

In a temp folder: a logreg model (the default pipeline on 50,000 synthetic phrases). Then, in
the same run, on 127.0.0.1, each server as one uvicorn process (uvloop, httptools, no access
log), loaded by Debian's ``wrk`` (``apt-get install wrk``; needed by this benchmark only), each
point measured on ours and right after on the baseline (both servers run side by side):

- ``ours``: ``python -m serve`` (micro-batched ``/predict``, and ``/predict/batch`` with 100
  texts per request);
- ``baseline``: the original's way: a FastAPI ``def predict(review)`` endpoint that calls
  ``model.predict`` and then ``model.predict_proba`` on the one text of each request.

For each endpoint and concurrency (1, 16, 64) it prints req/s, texts/s and wrk's p50 and p99
latency, and ours/baseline for ``/predict`` at the same concurrency. Timings vary with the
machine's load: the ratios, measured in the same run, are what to compare.

    .venv/bin/python serve/benchmark.py [--duration 10] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.params import TrainParams  # noqa: E402
from common.tables import read_table  # noqa: E402
from train.model_store import save_sklearn  # noqa: E402
from train.registry import build_pipeline  # noqa: E402
from train.sklearn_models import fit_pipeline  # noqa: E402

BASELINE = """
import sys
from pathlib import Path
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from train.model_store import MODEL_DIR, SKLEARN_FILE, read_model_files, verify_manifest
from train.sklearn_models import load_pipeline

model_dir, port = Path(sys.argv[1]), int(sys.argv[2])
files = read_model_files(model_dir)
verify_manifest(files, model_dir)
model = load_pipeline(files[SKLEARN_FILE], str(model_dir))
app = FastAPI()

class Review(BaseModel):
    text: str

@app.get("/ready")
def ready():
    return {"status": "ready"}

@app.post("/predict")
def predict(review: Review):
    label = int(model.predict([review.text])[0])
    probability = float(model.predict_proba([review.text])[0][label])
    return {"prediction": "positive" if label else "negative", "prediction_score": round(100 * probability, 2)}

uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning")
"""

LUA = """
local bodies = {BODIES}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "{PATH}", {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server not ready")


def milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(
    port: int, path: str, bodies: list[str], concurrency: int, duration: int, folder: Path
) -> dict[str, float]:
    script = folder / f"load-{abs(hash((path, len(bodies))))}.lua"
    lua_bodies = "{" + ", ".join(json.dumps(body) for body in bodies) + "}"
    script.write_text(LUA.replace("{BODIES}", lua_bodies).replace("{PATH}", path))
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"{path}: {errors.group(1)} error responses\n{output}")
    if set(percentiles) != {"50", "99"}:
        raise SystemExit(f"{path} at concurrency {concurrency}: no latency figures from wrk\n{output}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50": milliseconds(percentiles["50"]),
        "p99": milliseconds(percentiles["99"]),
    }


def synthetic_reviews(rows: int) -> dict[str, list]:
    """get_data's synthetic phrases (seed 42), made by the stage itself, ``python -m
    prepare_data.get``, in a temp folder: this part imports no stage but train."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-data-") as name:
        folder = Path(name)
        (folder / "params.yaml").write_text(
            f"data:\n  source: synthetic\n  synthetic_rows: {rows}\n  seed: 42\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, "-m", "prepare_data.get"], cwd=folder, env=env, check=True, capture_output=True
        )
        table = read_table(folder / "data" / "raw" / "reviews.tsv")
    return {"Phrase": table.column("Phrase").to_pylist(), "Sentiment": table.column("Sentiment").to_pylist()}


def request_bodies(texts: list[str]) -> tuple[list[str], list[str]]:
    """256 ``/predict`` bodies of one text and 16 ``/predict/batch`` bodies of 100 keyed texts."""
    rng = np.random.default_rng(0)
    singles = [json.dumps({"text": texts[i]}) for i in rng.integers(0, len(texts), 256)]
    batches = [
        json.dumps(
            {
                "instances": [
                    {"key": k, "text": texts[i]} for k, i in enumerate(rng.integers(0, len(texts), 100))
                ]
            }
        )
        for _ in range(16)
    ]
    return singles, batches


Row = tuple[str, str, int, dict[str, float], int]  # server, path, concurrency, wrk's result, texts a request


def measure(
    args: argparse.Namespace, ports: dict[str, int], singles: list[str], batches: list[str], folder: Path
) -> list[Row]:
    """Each endpoint at each concurrency, on each server right after the other."""
    rows: list[Row] = []
    points = [("/predict", singles, 1, c) for c in args.concurrency]
    points += [("/predict/batch", batches, 100, c) for c in args.concurrency]
    for path, bodies, per_request, concurrency in points:
        for server in args.servers:
            if path == "/predict/batch" and server == "baseline":
                continue  # the original had no batch endpoint
            # Warm-up: not measured (wrk may finish no request in it at high concurrency).
            subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{concurrency}",
                    "-d2s",
                    f"http://127.0.0.1:{ports[server]}/health",
                ],
                capture_output=True,
                check=True,
            )
            result = run_wrk(ports[server], path, bodies, concurrency, args.duration, folder)
            rows.append((server, path, concurrency, result, per_request))
            print(f"{server} {path} c={concurrency}: {result}", file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[Row]) -> None:
    base = {c: r["rps"] for s, p, c, r, _ in rows if s == "baseline"}
    print("| server | endpoint | concurrency | req/s | texts/s | p50 ms | p99 ms | req/s vs baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for server, path, concurrency, result, per_request in rows:
        ratio = (
            f"{result['rps'] / base[concurrency]:.1f}x" if path == "/predict" and concurrency in base else ""
        )
        print(
            f"| {server} | {path} | {concurrency} | {result['rps']:,.0f} | {result['rps'] * per_request:,.0f} "
            f"| {result['p50']:.1f} | {result['p99']:.1f} | {ratio} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--servers", nargs="+", default=["ours", "baseline"], choices=["ours", "baseline"])
    parser.add_argument(
        "--serve-args", default="", help="more options for python -m serve, e.g. '--max-wait-ms 1'"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("serve/benchmark.py: skipped: needs Debian's wrk (apt-get install wrk)")
        return
    reviews = synthetic_reviews(50_000)
    texts = [t for t in reviews["Phrase"] if len(t) >= 4]
    labels = np.isin(np.array(reviews["Sentiment"]), [3, 4]).astype(np.int8)
    singles, batches = request_bodies(texts)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SERVE_API_TOKEN", None)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as name:
        folder = Path(name)
        model = folder / "model"
        save_sklearn(
            fit_pipeline(build_pipeline(TrainParams()), reviews["Phrase"], labels), {"model": "logreg"}, model
        )
        servers = {
            "ours": lambda port: [
                *(sys.executable, "-m", "serve", "--model", str(model), "--port", str(port)),
                *args.serve_args.split(),
            ],
            "baseline": lambda port: [sys.executable, "-c", BASELINE, str(model), str(port)],
        }
        # Both servers run side by side (an idle one costs nothing), and each point is measured
        # on one right after the other: the machine's load changes less between them.
        ports = {server: free_port() for server in args.servers}
        processes = {
            server: subprocess.Popen(
                servers[server](ports[server]), cwd=ROOT, env=env, stderr=subprocess.DEVNULL
            )
            for server in args.servers
        }
        try:
            for server in args.servers:
                wait_ready(ports[server], processes[server])
            rows = measure(args, ports, singles, batches, folder)
        finally:
            for process in processes.values():
                process.terminate()
                process.wait(timeout=60)
    print_table(rows)


if __name__ == "__main__":
    main()
