"""Checking that the key columns of a streamed table are unique, in memory that stays flat.

Each row's key is hashed to 128 bits (two seeded 64-bit pandas hashes of the key columns
together); ``(hash, row)`` records are spilled to 64 temp files by the hash's top bits, and
at the end each file (1/64 of the rows) is sorted on its own. Memory is one batch plus one
file's records (about 380 KB per million rows), whatever the table's size; the temp files
take 24 bytes per row. Two different keys share a 128-bit hash with probability about
n^2 / 2^129 (3e-25 at 10 million rows): the check is exact in practice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa

PARTITION_BITS = 6
RECORD = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("row", "<i8")])
# Two different pandas hash keys (16 bytes each): two independent 64-bit hashes.
HASH_KEYS = ("predict-key-hash", "second-key-hash!")


def key_hashes(batch: pa.RecordBatch | pa.Table, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each row's key (all ``columns`` together, types included)."""
    frame = pa.table({name: batch[name] for name in columns}).to_pandas()
    first, second = (
        pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy(np.uint64) for key in HASH_KEYS
    )
    return first, second


SPILL_PREFIX = ".predict-keys-"


def remove_dead_spills(directory: Path) -> None:
    """Delete the spill folders in ``directory`` whose process no longer runs."""
    for folder in directory.glob(f"{SPILL_PREFIX}*"):
        pid = folder.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class DuplicateKeyCheck:
    """``add`` each batch's key hashes; ``first_duplicate`` finds a repeated key at the end."""

    def __init__(self, directory: Path | None = None) -> None:
        # Beside the output (``directory``), not in /tmp: a run killed with SIGKILL leaves its
        # spill files where the user looks, and the next run there removes them.
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            remove_dead_spills(directory)
        prefix = f"{SPILL_PREFIX}{os.getpid()}-"
        self._dir = tempfile.TemporaryDirectory(prefix=prefix, dir=directory)
        self._paths = [Path(self._dir.name) / f"{i:02d}.bin" for i in range(1 << PARTITION_BITS)]
        self._files = [path.open("wb") for path in self._paths]

    def add(self, h1: np.ndarray, h2: np.ndarray, first_row: int) -> None:
        records = np.empty(len(h1), dtype=RECORD)
        records["h1"], records["h2"] = h1, h2
        records["row"] = np.arange(first_row, first_row + len(h1))
        part = (h1 >> np.uint64(64 - PARTITION_BITS)).astype(np.intp)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(len(self._files) + 1))
        records = records[order]
        for index, file in enumerate(self._files):
            lo, hi = bounds[index], bounds[index + 1]
            if hi > lo:
                file.write(records[lo:hi].tobytes())

    def first_duplicate(self) -> tuple[int, int] | None:
        """``(first_row, repeated_row)`` of the earliest row whose key was seen before, or None."""
        for file in self._files:
            file.close()
        found: tuple[int, int] | None = None
        for path in self._paths:
            records = np.fromfile(path, dtype=RECORD)
            if len(records) < 2:
                continue
            records = records[np.lexsort((records["row"], records["h2"], records["h1"]))]
            same = (records["h1"][1:] == records["h1"][:-1]) & (records["h2"][1:] == records["h2"][:-1])
            if not same.any():
                continue
            # Each repeat's first occurrence: the row at the start of its run of equal keys.
            starts = np.flatnonzero(np.concatenate(([True], ~same)))
            run_start = starts[np.searchsorted(starts, np.flatnonzero(same) + 1, side="right") - 1]
            repeats = records["row"][np.flatnonzero(same) + 1]
            best = int(np.argmin(repeats))
            candidate = (int(records["row"][run_start[best]]), int(repeats[best]))
            if found is None or candidate[1] < found[1]:
                found = candidate
        return found

    def close(self) -> None:
        for file in self._files:
            file.close()
        self._dir.cleanup()

    def __enter__(self) -> DuplicateKeyCheck:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
