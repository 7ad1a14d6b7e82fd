"""Where the served model's bytes come from, and the checks they pass before loading.

- The workspace (no ``--rev``): every file of ``model/``, checked against its
  ``manifest.json`` and refused unless its DVC hash is the one ``dvc.lock`` records
  (``--unlocked-model``: a folder trained here and not locked yet).
- A revision (``--rev``: a commit, branch, tag or experiment name): the files of ``model/``
  at that revision through DVC's API (from the cache, or the default remote when the cache
  lacks them), refused unless their DVC hash equals that revision's ``dvc.lock`` record of
  ``model`` and each file matches the manifest. Since ``dvc.lock`` comes from git, a forged
  folder (manifest included) in a cache or remote is refused too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import PipelineError
from train.model_store import (
    LOCK_FILE,
    MODEL_DIR,
    check_model_format,
    dvc_dir_md5,
    locked_model_md5,
    parse_meta,
    read_trusted_model,
    verify_manifest,
)

METRICS_FILE = "metrics/model_performance.json"


@dataclass(frozen=True)
class ModelFiles:
    """A model folder's verified bytes and what ``GET /model`` reports about them."""

    files: dict[str, bytes]
    where: Path
    info: dict[str, Any] = field(default_factory=dict)


def describe(
    files: dict[str, bytes], where: Path, revision: str | None, metrics: Any, lock_md5: str | None
) -> dict[str, Any]:
    meta = parse_meta(files, where)
    md5 = dvc_dir_md5(files)
    return {
        "kind": meta.get("kind"),
        "model": meta.get("model"),
        "params": meta.get("params", {}),
        "md5": md5,
        "dvc_lock_md5": lock_md5,
        "matches_dvc_lock": md5 == lock_md5,
        "git_revision": revision,
        "metrics": metrics,
        "source": str(where),
    }


def _git_head(root: Path) -> str | None:
    """The checkout's commit; None outside a git checkout or without git (the service image)."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    except OSError:
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def workspace_model(
    model_dir: Path = MODEL_DIR, root: Path = Path("."), unlocked: bool = False
) -> ModelFiles:
    """``model_dir``, checked against its manifest and (unless ``unlocked``) ``dvc.lock``."""
    lock = root / LOCK_FILE
    files = read_trusted_model(model_dir, unlocked, lock)
    check_model_format(files, model_dir)
    metrics = root / METRICS_FILE
    info = describe(
        files,
        model_dir,
        _git_head(root),
        json.loads(metrics.read_text()) if metrics.is_file() else None,
        locked_model_md5(lock.read_text() if lock.is_file() else None, str(lock)),
    )
    return ModelFiles(files, model_dir, info)


def without_dvc(rev: str, module: str | None) -> str:
    """The one line for ``--rev`` where DVC (or a module it needs) is not installed, as in the
    service image, which has neither DVC nor git."""
    missing = "DVC" if module in (None, "dvc") else f"DVC's {module}"
    if shutil.which("git") is None:
        missing += " and git"
    return (
        f"--rev {rev[:40]}: needs {missing}, not installed here: serve a revision with the pipeline "
        "image (sentiment-pipeline) or from a checkout with `make install EXTRAS=serve`, "
        "or mount that revision's model/ and serve it without --rev"
    )


def revision_model(rev: str, root: Path = Path(".")) -> ModelFiles:
    """``model/`` at ``rev``, checked against that revision's ``dvc.lock`` before anything else."""
    try:  # imported here, not at the module's top: the service image has no DVC (docs/containers.md)
        from dvc.exceptions import DvcException
        from dvc.fs import DVCFileSystem
        from dvc.repo import Repo
        from dvc.scm import RevError, resolve_rev
    except ModuleNotFoundError as missing:
        raise PipelineError(without_dvc(rev, missing.name)) from None

    # A git revision name is short and printable (git check-ref-format); anything else would
    # only give a long error from pygit2.
    if not rev or len(rev) > 255 or not rev.isprintable() or any(c.isspace() for c in rev):
        raise PipelineError(
            f"--rev: {rev[:40]!r}{'...' if len(rev) > 40 else ''}: not a commit, branch, tag or experiment name"
        )
    where = Path(f"{rev}:{MODEL_DIR}")
    try:
        repo = Repo(str(root))
    except DvcException as error:
        raise PipelineError(f"{root.resolve()}: not a DVC repository ({error})") from None
    try:
        try:
            sha = resolve_rev(repo.scm, rev)
        except RevError:
            raise PipelineError(f"--rev {rev}: no such commit, branch, tag or experiment") from None
        # By URL: given a Repo object, DVCFileSystem would read its workspace, not ``rev``.
        fs = DVCFileSystem(url=str(root), rev=sha)
        lock_where = f"{rev}:{LOCK_FILE}"
        if not fs.isfile(str(LOCK_FILE)):
            raise PipelineError(f"{lock_where}: not found; cannot check the model of --rev {rev}")
        expected = locked_model_md5(fs.read_text(str(LOCK_FILE)), lock_where)
        if expected is None:
            raise PipelineError(
                f"{lock_where}: records no model output; cannot check the model of --rev {rev}"
            )
        try:
            names = sorted(Path(p).name for p in fs.ls(str(MODEL_DIR), detail=False))
            files = {name: fs.read_bytes(f"{MODEL_DIR}/{name}") for name in names}
        except (DvcException, OSError) as error:
            raise PipelineError(
                f"{where}: cannot be read from the DVC cache or remote ({type(error).__name__}: {error}); "
                "run `dvc fetch` for that revision, or check the remote's credentials"
            ) from None
        actual = dvc_dir_md5(files)
        if actual != expected:
            raise PipelineError(
                f"{where}: DVC hash {actual} does not match {lock_where} ({expected}): "
                "the cache or remote holds other bytes; refusing to load"
            )
        verify_manifest(files, where)
        check_model_format(files, where)
        metrics = json.loads(fs.read_text(METRICS_FILE)) if fs.isfile(METRICS_FILE) else None
        return ModelFiles(files, where, describe(files, where, sha, metrics, expected))
    finally:
        repo.close()
