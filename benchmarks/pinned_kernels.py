"""What pinning the CPU kernels costs: training time pinned (AVX2) against unpinned.

``common/runtime.py`` pins numpy's and scipy's OpenBLAS, torch, MKL and oneDNN to their AVX2
kernels, so that every x86-64 machine computes the same bits. On a CPU with AVX-512 the
libraries would pick wider kernels by themselves. Each model (logreg, svm, torch with the
default params) is trained on get_data's default synthetic data, in a fresh process per run,
both ways; the script prints the best and median time of each and the ratio pinned/unpinned,
and whether the two ways gave the same model bytes.

    python benchmarks/pinned_kernels.py                  # 3 runs of each
    python benchmarks/pinned_kernels.py --repeats 5 --models logreg svm
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# torch while its optional part (torch_model/) is there.
MODELS = ("logreg", "svm", *(("torch",) if importlib.util.find_spec("torch_model") else ()))


def child(model: str, mode: str) -> None:
    """Train ``model`` once; print its fit time and model digest as JSON."""
    sys.path.insert(0, str(ROOT))
    if mode == "unpinned":
        import common.runtime as runtime

        # Before any stage package loads: the libraries then pick their own kernels.
        runtime.PINNED_ENVIRONMENT.clear()
        runtime.check_runtime = lambda: None
    import numpy as np

    from common.params import TrainParams
    from prepare_data.synthetic import generate_reviews

    columns = generate_reviews(50_000, seed=42)
    rows = [
        (t, int(s == 4)) for t, s in zip(columns["Phrase"], columns["Sentiment"], strict=True) if s in (0, 4)
    ]
    cut = len(rows) * 4 // 5
    train_texts, valid_texts = [t for t, _ in rows[:cut]], [t for t, _ in rows[cut:]]
    train_labels = np.array([label for _, label in rows[:cut]], dtype=np.int8)
    valid_labels = np.array([label for _, label in rows[cut:]], dtype=np.int8)
    settings = TrainParams(model=model)
    start = time.perf_counter()
    if model == "torch":
        # By name: this benchmark is core, and checks (mypy) without the part.
        loop = importlib.import_module("torch_model.loop")

        with tempfile.TemporaryDirectory() as checkpoints:
            trained = loop.train_torch_model(
                settings.model_params,  # train.torch
                settings.seed,
                train_texts,
                train_labels,
                valid_texts,
                valid_labels,
                Path(checkpoints),
            )
        model_bytes = loop.state_dict_bytes(trained.state)
    else:
        from train.registry import build_pipeline
        from train.sklearn_models import fit_pipeline, pipeline_bytes

        model_bytes = pipeline_bytes(fit_pipeline(build_pipeline(settings), train_texts, train_labels))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "digest": hashlib.sha256(model_bytes).hexdigest()[:12]}))


def run(model: str, mode: str) -> dict[str, float | str]:
    env = dict(os.environ)
    if mode == "unpinned":
        # Nothing set from outside either (this machine's profile may set a core type).
        for name in (
            "OPENBLAS_CORETYPE",
            "ATEN_CPU_CAPABILITY",
            "MKL_ENABLE_INSTRUCTIONS",
            "ONEDNN_MAX_CPU_ISA",
        ):
            env.pop(name, None)
    out = subprocess.run(
        [sys.executable, __file__, "--child", model, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print("model    mode      best s  median s   model digest")
    for model in args.models:
        times: dict[str, list[float]] = {"pinned": [], "unpinned": []}
        digests: dict[str, set[str]] = {"pinned": set(), "unpinned": set()}
        for _ in range(args.repeats):
            for mode in times:  # interleaved, so that load on the shared machine hits both
                result = run(model, mode)
                times[mode].append(float(result["seconds"]))
                digests[mode].add(str(result["digest"]))
        for mode, values in times.items():
            print(
                f"{model:<8} {mode:<9} {min(values):7.2f}  {statistics.median(values):8.2f}   "
                f"{','.join(sorted(digests[mode]))}"
            )
        ratio = min(times["pinned"]) / min(times["unpinned"])
        median_ratio = statistics.median(times["pinned"]) / statistics.median(times["unpinned"])
        same = "same model bytes" if digests["pinned"] == digests["unpinned"] else "other model bytes"
        print(f"{model:<8} pinned/unpinned: {ratio:.2f} (best), {median_ratio:.2f} (median); {same}")


if __name__ == "__main__":
    main()
