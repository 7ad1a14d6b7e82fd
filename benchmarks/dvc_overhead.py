"""What DVC adds to an experiment, and how fast comparing is.

In fresh temp copies of this repository (as the tests make them), it measures:

- ``direct``: the four stage commands run one after another, as plain processes;
- ``dvc repro`` and ``dvc exp run``: the same pipeline through DVC, from an empty cache;
  (wall time and CPU time, interleaved and repeated, as other work on the machine skews both);
- a no-op ``dvc repro`` (everything up to date);
- ``dvc exp show`` (and ``--json``) with 20 experiments present, queued as a grid; the first
  call collects every experiment, later ones read DVC's experiment cache.

    .venv/bin/python benchmarks/dvc_overhead.py                    # the default 50,000 rows
    .venv/bin/python benchmarks/dvc_overhead.py --rows 3000 --experiments 20
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import Repo, make_repo

STAGE_COMMANDS = [
    ("get_data", "python -m prepare_data.get"),
    ("prepare_data", "python -m prepare_data"),
    ("train", "python -m train"),
    ("evaluate", "python -m evaluate"),
]


def timed(repo: Repo, *command: str) -> float:
    return measured(repo, command)[0]


def measured(repo: Repo, *commands: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command's whole process tree) of ``commands``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for command in commands:
        repo.run(*command, timeout=3600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(repo: Repo, runs: int, *command: str) -> float:
    return statistics.median(timed(repo, *command) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000, help="data.synthetic_rows of the pipeline runs")
    parser.add_argument(
        "--experiments", type=int, default=20, help="experiments present for dvc exp show (0: skip that part)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pipeline leg")
    parser.add_argument(
        "--show-rows", type=int, default=3000, help="data.synthetic_rows of those experiments"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dvc-overhead-") as temp:
        root = Path(temp)
        # Interleaved and repeated, each in a fresh copy (empty cache): on a shared machine the
        # least wall time is the one least disturbed; CPU time hardly depends on the others.
        legs: dict[str, list[tuple[str, ...]]] = {
            "direct, the four commands": [("sh", "-c", command) for _, command in STAGE_COMMANDS],
            "dvc repro": [("dvc", "repro")],
            "dvc exp run": [("dvc", "exp", "run")],
        }
        results: dict[str, list[tuple[float, float]]] = {leg: [] for leg in legs}
        for attempt in range(args.repeat):
            for leg, commands in legs.items():
                copy = make_repo(root / f"{leg.split(',')[0].replace(' ', '-')}-{attempt}", args.rows)
                results[leg].append(measured(copy, *commands))
        noop_repro = median_of(copy, 3, "dvc", "repro")

        print(f"pipeline on {args.rows} rows, best of {args.repeat}: wall s, CPU s (median)")
        base_wall = min(w for w, _ in results["direct, the four commands"])
        base_cpu = statistics.median(c for _, c in results["direct, the four commands"])
        for leg, runs in results.items():
            wall = min(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(
                f"  {leg:<26} {wall:6.2f}  {cpu:6.2f}   (+{wall - base_wall:.2f} wall, +{cpu - base_cpu:.2f} CPU)"
            )
        print(f"  no-op dvc repro            {noop_repro:6.2f}   (median of 3)")

        if args.experiments == 0:
            return
        shown = make_repo(root / "show", args.show_rows)
        shown.dvc("repro")
        shown.commit("baseline run")
        values = ",".join(str(round(0.01 * 1.5**i, 4)) for i in range(args.experiments))
        shown.dvc("exp", "run", "--queue", "-S", f"train.logreg.C={values}")
        start = time.perf_counter()
        shown.dvc("queue", "start", "-j", "2")
        while any(state in shown.dvc("queue", "status").stdout for state in ("Queued", "Running")):
            time.sleep(1)
        queue_seconds = time.perf_counter() - start
        shown.dvc("queue", "stop", check=False)
        listed = shown.dvc("exp", "ls").stdout.count("\n") - 1
        first = timed(shown, "dvc", "exp", "show", "--no-pager", "--force")
        warm = median_of(shown, 3, "dvc", "exp", "show", "--no-pager")
        as_json = median_of(shown, 3, "dvc", "exp", "show", "--json")
        print(f"{args.experiments} queued experiments on {args.show_rows} rows, -j 2: {queue_seconds:.1f} s")
        print(f"dvc exp show, {listed} experiments present")
        print(f"  first (--force, no exp cache) {first:6.2f}")
        print(f"  again (median of 3)           {warm:6.2f}")
        print(f"  --json (median of 3)          {as_json:6.2f}")


if __name__ == "__main__":
    main()
