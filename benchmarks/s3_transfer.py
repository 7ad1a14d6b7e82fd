"""``dvc push`` / ``dvc pull`` times through the S3 remote, against moto on 127.0.0.1.

In temp copies of this repository (as the tests make them), with the committed remote
``storage`` and its endpoint from ``AWS_ENDPOINT_URL``, it measures:

- the default artifacts: ``dvc repro`` of the default params, ``dvc push``, then ``dvc pull``
  in a fresh clone of a bare git remote;
- one large data file (``dvc add`` of random bytes, 1 GiB by default): ``dvc push``, then
  ``dvc pull`` in a fresh clone with the committed ``verify = true`` and with ``verify = false``.

Nothing leaves the machine: moto runs here, the environment names no profile and dummy
credentials. moto holds objects in memory (about twice the large file). The temp folder,
large file included, is deleted at the end.

    .venv/bin/python benchmarks/s3_transfer.py                     # 50,000 rows and 1 GiB
    .venv/bin/python benchmarks/s3_transfer.py --rows 3000 --big-mib 64
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import Repo, make_repo
from tests.remote_repos import add_bare_origin, clone
from tests.s3_server import MotoServer

BUCKET = "my-dvc-bucket"  # the committed remote: s3://my-dvc-bucket/sentiment-pipeline
CHUNK = 1 << 24


def timed(repo: Repo, *args: str) -> float:
    start = time.perf_counter()
    repo.dvc(*args)
    return time.perf_counter() - start


def cache_bytes(repo: Repo) -> int:
    return sum(p.stat().st_size for p in (repo.path / ".dvc/cache/files").rglob("*") if p.is_file())


def write_random_file(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        for _ in range(mib * (1 << 20) // CHUNK):
            file.write(os.urandom(CHUNK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="data.synthetic_rows of the pipeline run")
    parser.add_argument(
        "--big-mib", type=int, default=1024, help="size of the large file, MiB (multiple of 16)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="s3-transfer-"))
    server = MotoServer(work / "moto.log")
    rows: list[tuple[str, str, float]] = []
    try:
        server.start()
        with pytest.MonkeyPatch.context() as patch:
            server.set_env(patch, work)
            # The tests cut retries short to fail fast; a benchmark wants the SDK's defaults.
            patch.delenv("AWS_MAX_ATTEMPTS")
            patch.delenv("AWS_RETRY_MODE")
            server.client().create_bucket(Bucket=BUCKET)

            repo = make_repo(work / "repo", args.rows)
            rows.append(("default artifacts", "dvc repro", timed(repo, "repro")))
            repo.commit("run the pipeline")
            add_bare_origin(repo, work / "origin.git")
            size = f"{cache_bytes(repo) / 1e6:.1f} MB"
            rows.append((f"default artifacts ({size})", "dvc push", timed(repo, "push")))
            coworker = clone(work / "origin.git", work / "coworker")
            rows.append((f"default artifacts ({size})", "dvc pull, fresh clone", timed(coworker, "pull")))
            shutil.rmtree(coworker.path)

            big = repo.path / "big/big.bin"
            write_random_file(big, args.big_mib)
            label = f"{args.big_mib} MiB file"
            rows.append((label, "dvc add", timed(repo, "add", "big")))
            repo.commit("a large file")
            repo.run("git", "push", "-q", "origin", "main")
            rows.append((label, "dvc push", timed(repo, "push", "big")))
            shutil.rmtree(big.parent)  # the cache keeps its copy; free the disk early
            for verify in ("true", "false"):
                coworker = clone(work / "origin.git", work / f"coworker-{verify}")
                coworker.dvc("remote", "modify", "--local", "storage", "verify", verify)
                rows.append(
                    (label, f"dvc pull, fresh clone (verify {verify})", timed(coworker, "pull", "big"))
                )
                shutil.rmtree(coworker.path)
    except BaseException:
        # moto's request log shows which call failed and how; it goes with the temp folder.
        log = (work / "moto.log").read_text(errors="replace").splitlines()
        print("\n".join(line for line in log if '" 200 -' not in line)[-5000:], file=sys.stderr)
        raise
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("| what | command | seconds |")
    print("|---|---|---|")
    for what, command, seconds in rows:
        print(f"| {what} | `{command}` | {seconds:.1f} |")


if __name__ == "__main__":
    main()
