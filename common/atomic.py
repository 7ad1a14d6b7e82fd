"""Atomic outputs: write to a temp path beside the target, then rename over it.

A stage that is killed, or fails validation, never leaves a half-written output, and
never replaces a good output with a bad one.
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


def _temp_sibling(target: Path, directory: bool) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
    os.close(fd)
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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


@contextlib.contextmanager
def atomic_outputs(
    *files: str | os.PathLike[str], dirs: tuple[str | os.PathLike[str], ...] = ()
) -> Iterator[list[Path]]:
    """Yield temp paths for ``files`` then ``dirs``; rename them all into place only if the
    block succeeds. A temp path for one of ``dirs`` is an empty directory to fill.
    """
    finals = [Path(t) for t in (*files, *dirs)]
    temps = [_temp_sibling(t, directory=i >= len(files)) for i, t in enumerate(finals)]
    try:
        yield temps
    except BaseException:
        for temp in temps:
            _remove(temp)
        raise
    for temp, final in zip(temps, finals, strict=True):
        os.chmod(temp, 0o755 if temp.is_dir() else 0o644)
        _replace(temp, final)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_outputs(target) as (temp,):
        temp.write_bytes(data)


def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys, fixed indent, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    write_bytes_atomic(target, dumps_json(obj).encode())
