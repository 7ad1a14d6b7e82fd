"""``python -m predict.diff A [B]``: the rows whose predicted label differs between two revisions.

Reads the predict stage's ``data/predictions/test.parquet`` at each revision (a commit,
branch, tag or experiment name, through DVC's API: from the cache, or the remote; ``B``
defaults to the workspace), joins them on the key columns and prints how many rows changed
label, then those rows: key, label and score in A and in B. ``make diff-predictions A=main
B=svm`` runs it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from common.errors import PipelineError
from common.stage import StageArgumentParser, run_stage

PREDICTIONS = "data/predictions/test.parquet"
WORKSPACE = "workspace"
SCORED = ["score", "label", "prediction"]


def read_predictions(rev: str, path: str = PREDICTIONS, root: Path = Path(".")) -> pd.DataFrame:
    """The predictions file at ``rev`` (``workspace``: the file on disk) as a DataFrame."""
    if rev == WORKSPACE:
        local = root / path
        if not local.is_file():
            raise PipelineError(f"{local}: not found (run the predict stage: dvc repro predict)")
        return pq.read_table(local).to_pandas()
    from dvc.fs import DVCFileSystem
    from dvc.repo import Repo
    from dvc.scm import RevError, resolve_rev

    with Repo(str(root)) as repo:
        try:
            sha = resolve_rev(repo.scm, rev)
        except RevError:
            raise PipelineError(f"{rev}: no such commit, branch, tag or experiment") from None
    fs = DVCFileSystem(url=str(root), rev=sha)
    if not fs.exists(path):
        raise PipelineError(f"{rev}:{path}: not found (that revision has no predict stage output)")
    try:
        data = fs.read_bytes(path)
    except Exception as error:  # DVC's cache and remote errors have no common base class
        raise PipelineError(f"{rev}:{path}: cannot be read from the DVC cache or remote ({error})") from None
    return pq.read_table(io.BytesIO(data)).to_pandas()


def changed_rows(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows (in A's order) whose label differs, and how many rows both have."""
    keys = [c for c in a.columns if c not in SCORED]
    if keys != [c for c in b.columns if c not in SCORED]:
        raise PipelineError(
            f"the two files have different key columns: {keys} and {[c for c in b.columns if c not in SCORED]}"
        )
    both = a.merge(b, on=keys, suffixes=("_a", "_b"), validate="one_to_one", sort=False)
    changed = both[both["label_a"] != both["label_b"]]
    return changed[[*keys, "label_a", "label_b", "score_a", "score_b"]], len(both)


def main(argv: list[str] | None = None) -> None:
    parser = StageArgumentParser(prog="python -m predict.diff", description=__doc__.splitlines()[0])
    parser.add_argument("a", help="revision A: commit, branch, tag, experiment, or 'workspace'")
    parser.add_argument("b", nargs="?", default=WORKSPACE, help="revision B (default: the workspace)")
    parser.add_argument("--limit", type=int, default=50, help="rows to print (0: all)")
    args = parser.parse_args(argv)
    a, b = read_predictions(args.a), read_predictions(args.b)
    changed, common = changed_rows(a, b)
    only_a, only_b = len(a) - common, len(b) - common
    print(
        f"{len(changed)} of {common} rows changed label between {args.a} and {args.b}"
        f" ({100 * len(changed) / max(common, 1):.2f}%); {only_a} rows only in {args.a}, {only_b} only in {args.b}"
    )
    shown = changed if args.limit == 0 else changed.head(args.limit)
    if len(shown):
        shown.to_string(sys.stdout, index=False, float_format=lambda x: f"{x:.4f}")
        print()
        if len(shown) < len(changed):
            print(f"... {len(changed) - len(shown)} more (--limit 0 prints all)")


if __name__ == "__main__":
    run_stage("predict.diff", main)
