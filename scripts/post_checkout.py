"""The git post-checkout hook (.pre-commit-config.yaml): DVC's, but it never fails the checkout.

``dvc git-hook post-checkout`` runs ``dvc checkout`` after a branch checkout, and exits 1 when
an output of the new revision is not in the local cache yet: the normal case for a branch a
teammate pushed, whose outputs come with ``dvc pull``. git has switched branches by then, so
the failure would only break ``git checkout`` in a ``set -e`` script. This runs DVC's hook and,
when it fails, prints one line saying what to do, and exits 0.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    # pre-commit passes no arguments but PRE_COMMIT_CHECKOUT_TYPE, which DVC's hook reads;
    # run as a plain git hook, git's three arguments are passed on.
    hook = [sys.executable, "-m", "dvc", "git-hook", "post-checkout", *argv]
    result = subprocess.run(hook, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        print("post-checkout: outputs of this revision are not all in the local DVC cache: run `dvc pull`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
