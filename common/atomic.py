"""Atomic outputs: a stage's outputs are replaced as one unit, or not at all.

Each output is first written to a temp path beside it (``.<name>.tmp-XXXX`` in the same
folder; for an output folder, beside the folder, so never inside a DVC output folder), then
renamed over it. A stage that is killed, or fails validation, never leaves a half-written
output, and never replaces a good output with a bad one.

A set of outputs takes several renames, and a kill between two of them would leave some new and
some old (``train.parquet`` of one run beside ``valid.parquet`` of another). So a set is
committed under markers: a ``.<name>.replacing`` file beside each output is written before the
first rename and removed after the last. Outputs with a marker are refused by
``check_complete``, which every stage calls on what it reads, until the writing stage runs
again and replaces the whole set. Each run of a stage also deletes the temp paths that an
earlier, killed run (``kill -9``, a lost machine) left beside its outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import PipelineError, defer_interrupts, raise_if_interrupted

MARKER_SUFFIX = ".replacing"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _temp_sibling(target: Path, directory: bool) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = _temp_prefix(target)
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
    os.close(fd)
    return Path(name)


def marker_path(target: Path) -> Path:
    return target.parent / f".{target.name}{MARKER_SUFFIX}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete the temp paths a killed run left beside ``target``; return them."""
    if not target.parent.is_dir():
        return []
    stale = sorted(target.parent.glob(f"{_temp_prefix(target)}*"))
    stale += sorted(target.parent.glob(f"{_temp_prefix(marker_path(target))}*"))
    for path in stale:
        _remove(path)
    return stale


def _replace(temp: Path, target: Path) -> None:
    if temp.is_dir() and target.exists():
        # os.replace cannot swap a directory over a non-empty one: move the old aside first.
        old = _temp_sibling(target, directory=True)
        old.rmdir()
        os.replace(target, old)
        os.replace(temp, target)
        _remove(old)
    else:
        os.replace(temp, target)


def check_complete(*paths: str | os.PathLike[str]) -> None:
    """Refuse ``paths`` (or folders holding them) that a killed stage left half-replaced."""
    for path in map(Path, paths):
        for target in (path, *path.parents):
            if target.name and marker_path(target).exists():
                raise PipelineError(
                    f"{path}: the run that wrote it was killed while replacing its outputs, so they "
                    f"may come from two runs ({marker_path(target)} is left); run that stage again "
                    "(dvc repro)"
                )


def _with_path(error: OSError, finals: list[Path]) -> OSError:
    """``error`` naming the output it concerns: pyarrow's write errors name no file, and the
    temp path (``.train.parquet.tmp-x1y2``) means nothing to a user."""
    if error.filename is None:
        error.filename = ", ".join(map(str, finals))
        return error
    path = Path(os.fsdecode(error.filename))
    for final in finals:
        # The temp itself, or a file inside an output folder's temp (data/.raw.tmp-x/reviews.tsv).
        for depth, part in enumerate(reversed(path.parts)):
            if part.startswith(_temp_prefix(final)) or part.startswith(_temp_prefix(marker_path(final))):
                inner = path.parts[len(path.parts) - depth :]
                error.filename = str(final.joinpath(*inner))
    return error


@contextlib.contextmanager
def atomic_outputs(
    *files: str | os.PathLike[str], dirs: tuple[str | os.PathLike[str], ...] = (), marked: bool = False
) -> Iterator[list[Path]]:
    """Yield temp paths for ``files`` then ``dirs``; rename them all into place, as one unit,
    only if the block succeeds. A temp path for one of ``dirs`` is an empty directory to fill.

    ``marked``: the markers are written before the block runs, not just before the renames,
    for an output that something else rewrites in place while the block runs (DVCLive's
    metrics file, rewritten after each virtual epoch for ``dvc exp show``): a run killed with
    SIGKILL in the block then leaves the set marked incomplete. The block's own failure (or
    SIGTERM) removes them; restoring what was rewritten in place is the caller's.
    """
    finals = [Path(t) for t in (*files, *dirs)]
    for i, final in enumerate(finals):
        if final.exists() and not (final.is_file() or final.is_dir()):  # /dev/full, a FIFO
            raise PipelineError(f"{final}: not a regular file or folder; refusing to replace it")
        if i < len(files) and final.is_dir():  # found now, not at the rename, after others
            raise PipelineError(f"{final}: is a folder, where a file is written; refusing to replace it")
    temps: list[Path] = []
    committing = False
    try:
        for final in finals:
            remove_stale_temps(final)
        for i, final in enumerate(finals):
            temps.append(_temp_sibling(final, directory=i >= len(files)))
        if marked:
            _write_markers(finals)
        yield temps
        raise_if_interrupted()  # a signal's exception that a library swallowed: commit nothing
        for temp in temps:
            os.chmod(temp, 0o755 if temp.is_dir() else 0o644)
        committing = True
        with defer_interrupts():  # a signal waits until the set is replaced
            _commit(temps, finals, marked)
    except BaseException as error:
        for temp in temps:
            _remove(temp)
        if not committing:  # also a temp made just before a signal, not yet in `temps`
            for final in finals:
                remove_stale_temps(final)
                if marked:
                    _remove(marker_path(final))
        if isinstance(error, OSError):
            raise _with_path(error, finals)  # noqa: B904 (the same error, with its path)
        raise


def _write_markers(finals: list[Path]) -> list[Path]:
    markers = [marker_path(final) for final in finals]
    note = json.dumps({"outputs": [str(f) for f in finals]}).encode()
    try:
        for marker in markers:
            _write_new(marker, note)
    except BaseException:  # nothing renamed yet: the outputs are all old
        for marker in markers:
            _remove(marker)
        raise
    return markers


def _commit(temps: list[Path], finals: list[Path], marked: bool = False) -> None:
    """Rename ``temps`` over ``finals``; under markers when that takes more than one rename
    (``marked``: they are there already)."""
    several = len(finals) > 1 or any(t.is_dir() and f.exists() for t, f in zip(temps, finals, strict=True))
    if marked:
        markers = [marker_path(final) for final in finals]
    else:
        markers = _write_markers(finals) if several else []
    for temp, final in zip(temps, finals, strict=True):
        _replace(temp, final)
    for marker in markers:
        marker.unlink()


def _write_new(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(name, path)
    except BaseException:
        _remove(Path(name))
        raise


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_outputs(target) as (temp,):
        temp.write_bytes(data)


def dumps_json(obj: Any, sort_keys: bool = True) -> str:
    """Stable JSON: sorted keys (or the dict's own order, where it means something), fixed
    indent, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=False) + "\n"


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    write_bytes_atomic(target, dumps_json(obj).encode())
