"""What DVC adds to an experiment, and how fast comparing is.

In fresh temp copies of this repository (as the tests make them), it measures:

- ``direct``: the four stage commands run one after another, as plain processes;
- ``dvc repro`` and ``dvc exp run``: the same pipeline through DVC, from an empty cache;
- a no-op ``dvc repro`` (everything up to date);
- ``dvc exp show`` (and ``--json``) with 20 experiments present, queued as a grid; the first
  call collects every experiment, later ones read DVC's experiment cache.

    .venv/bin/python benchmarks/dvc_overhead.py                    # the default 50,000 rows
    .venv/bin/python benchmarks/dvc_overhead.py --rows 3000 --experiments 20
"""

from __future__ import annotations

import argparse
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
    start = time.perf_counter()
    repo.run(*command, timeout=3600)
    return time.perf_counter() - start


def median_of(repo: Repo, runs: int, *command: str) -> float:
    return statistics.median(timed(repo, *command) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000, help="data.synthetic_rows of the pipeline runs")
    parser.add_argument("--experiments", type=int, default=20, help="experiments present for dvc exp show")
    parser.add_argument(
        "--show-rows", type=int, default=3000, help="data.synthetic_rows of those experiments"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dvc-overhead-") as temp:
        root = Path(temp)
        direct = make_repo(root / "direct", args.rows)
        stage_times = {name: timed(direct, "sh", "-c", command) for name, command in STAGE_COMMANDS}
        direct_total = sum(stage_times.values())

        through_repro = make_repo(root / "repro", args.rows)
        repro_total = timed(through_repro, "dvc", "repro")
        noop_repro = median_of(through_repro, 3, "dvc", "repro")

        through_exp = make_repo(root / "exp", args.rows)
        exp_total = timed(through_exp, "dvc", "exp", "run")

        print(f"pipeline on {args.rows} rows (wall seconds)")
        for name, seconds in stage_times.items():
            print(f"  direct {name:<13} {seconds:7.2f}")
        print(f"  direct, all four     {direct_total:7.2f}")
        print(f"  dvc repro            {repro_total:7.2f}  (+{repro_total - direct_total:.2f} s)")
        print(f"  dvc exp run          {exp_total:7.2f}  (+{exp_total - direct_total:.2f} s)")
        print(f"  no-op dvc repro      {noop_repro:7.2f}  (median of 3)")

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
