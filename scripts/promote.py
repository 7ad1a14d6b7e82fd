"""``make promote EXP=svm BRANCH=svm-model``: an experiment as a git branch, checked out.

``dvc exp branch`` makes the branch; ``git checkout`` of it then refuses while the workspace
holds the changes ``dvc exp run`` or ``dvc exp apply`` left (params.yaml, dvc.lock, metrics).
Those changes are an experiment's commit, so dropping them loses nothing; anything else is
the user's own work, and then this refuses and changes nothing. The steps:

1. every path that differs from HEAD (tracked or untracked, not ignored) must hold what it
   holds in one experiment of HEAD (``refs/exps``), else refuse, naming the paths;
2. ``dvc exp branch EXP BRANCH``;
3. restore those paths to HEAD, ``git checkout BRANCH``, ``dvc checkout`` (the outputs are
   in the cache: the experiment made them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def blob(commit: str, path: str) -> bytes | None:
    """``path`` in ``commit``, or None where the commit has no such file."""
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def changed_paths() -> list[str]:
    """Paths whose working copy differs from HEAD: modified, deleted, or new and not ignored."""
    tracked = git("diff", "--name-only", "-z", "HEAD").split("\0")
    untracked = git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return sorted({path for path in tracked + untracked if path})


def experiments_of_head() -> list[str]:
    """The commits of ``refs/exps/<baseline>/...`` whose baseline is HEAD."""
    head = git("rev-parse", "HEAD").strip()
    prefix = f"refs/exps/{head[:2]}/{head[2:]}/"
    refs = git("for-each-ref", "--format=%(objectname) %(refname)", "refs/exps/").splitlines()
    return [line.split()[0] for line in refs if line.split()[1].startswith(prefix)]


def working_copy(path: str) -> bytes | None:
    file = Path(path)
    return file.read_bytes() if file.is_file() else None


def own_changes(paths: list[str]) -> list[str]:
    """The paths no single experiment of HEAD explains (empty: the workspace is an experiment's)."""
    if not paths:
        return []
    best: list[str] | None = None
    for commit in experiments_of_head():
        unexplained = [path for path in paths if working_copy(path) != blob(commit, path)]
        if best is None or len(unexplained) < len(best):
            best = unexplained
    return paths if best is None else best


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make promote EXP=<experiment> BRANCH=<new branch>", file=sys.stderr)
        return 2
    experiment, branch = argv
    paths = changed_paths()
    own = own_changes(paths)
    if own:
        print(
            f"promote: refusing: changes of your own, not an experiment's: {', '.join(own)} "
            "(commit or stash them first)",
            file=sys.stderr,
        )
        return 1
    made = subprocess.run(["dvc", "exp", "branch", experiment, branch], capture_output=True, text=True)
    if made.returncode != 0:
        print(f"promote: dvc exp branch {experiment} {branch}: {made.stderr.strip()}", file=sys.stderr)
        return 1
    tracked_in_head = [path for path in paths if blob("HEAD", path) is not None]
    if tracked_in_head:
        git("checkout", "HEAD", "--", *tracked_in_head)
    for path in paths:
        if blob("HEAD", path) is None:
            Path(path).unlink(missing_ok=True)
    git("checkout", "-q", branch)
    subprocess.run(["dvc", "checkout", "--quiet"], check=True)
    print(f"promote: experiment {experiment} is branch {branch}, checked out with its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
