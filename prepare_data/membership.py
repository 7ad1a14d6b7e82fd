"""Which splits each key (or text) occurs in, counted over a stream in flat-ish memory.

Values are 64-bit hashes (key fingerprints, hashes of normalized texts). Each distinct value
is stored once, as one uint64: the hash's top 58 bits and, in its low 6 bits, a tag of the
splits it was seen in (bits 0-2: train/valid/test of the hash split, bits 3-5: those of the
random split the report contrasts with). 58 bits keep counts exact barring a collision of
two distinct values, whose probability is about n^2 / 2^59: 2e-4 for n = 10 million.

Memory is 8 bytes per distinct value. Values are kept sorted in 16 shards by their top bits,
so that merging new values in never copies more than a sixteenth of them at once.
"""

from __future__ import annotations

import mmap

import numpy as np

TAG_BITS = 6
TAG_MASK = np.uint64((1 << TAG_BITS) - 1)
SHARD_BITS = 4
MIN_MERGE = 1 << 20
OFF_HEAP_BYTES = 1 << 16  # shards at least this large live in an mmap of their own
_POPCOUNT3 = np.array([0, 1, 1, 2, 1, 2, 2, 3], dtype=np.uint8)


def _reduce(packed: np.ndarray) -> np.ndarray:
    """Sorted distinct values with the OR of their tags (input: packed values, any order).

    Equal packed values are identical, so the sort algorithm never changes the result, only
    the time. NumPy's default (SIMD quicksort) beat timsort ("stable") here: 5.7 against
    7.2 ms for a million.
    """
    if len(packed) == 0:
        return packed
    return _combine_tags(np.sort(packed))


def _combine_tags(packed: np.ndarray) -> np.ndarray:
    """Sorted packed values with each value once, the OR of its tags (input: sorted, non-empty)."""
    values = packed >> np.uint64(TAG_BITS)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    if len(starts) == len(packed):  # no value twice: nothing to combine
        return packed
    tags = np.bitwise_or.reduceat(packed & TAG_MASK, starts)
    return (values[starts] << np.uint64(TAG_BITS)) | tags


def _merge_sorted(stored: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``_reduce`` of both sorted, reduced arrays, by inserting ``new`` into ``stored`` (linear
    in their sizes) instead of sorting both again: 56 against 140-218 ms for 2M stored and
    0.5M new values (this machine, loaded), and the membership merges were 11% of the
    stage's samples at 10M rows (py-spy) before."""
    if len(stored) == 0:
        return new
    return _combine_tags(np.insert(stored, np.searchsorted(stored, new), new))


def _off_heap(values: np.ndarray) -> np.ndarray:
    """``values`` in memory of their own (an anonymous mmap), given back to the OS when freed.

    The shards live for the whole stream and grow at each merge. On malloc's heap (where the
    stage keeps blocks up to 64 MiB, ``stream.reuse_freed_memory``) each grown shard needed
    fresh memory beside the holes its predecessors left, so the heap grew at every merge:
    the final merge alone took the peak at 10M rows from 320 to 350 MiB."""
    if values.nbytes < OFF_HEAP_BYTES:
        return values
    copy = np.frombuffer(mmap.mmap(-1, values.nbytes), values.dtype, len(values))
    copy[:] = values
    return copy


class SplitMembership:
    """A set of 64-bit hashes, each with the set of splits it was seen in."""

    def __init__(self) -> None:
        self._shards = [np.empty(0, np.uint64) for _ in range(1 << SHARD_BITS)]
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._stored = 0
        self._histogram: np.ndarray | None = None

    def add(self, hashes: np.ndarray, tags: np.ndarray) -> None:
        """Record that ``hashes[i]`` was seen in the splits of tag ``tags[i]`` (6-bit masks)."""
        if len(hashes) == 0:
            return
        self._histogram = None
        packed = (hashes.view(np.uint64) & ~TAG_MASK) | tags.astype(np.uint64)
        reduced = _reduce(packed)
        self._pending.append(reduced)
        self._pending_count += len(reduced)
        # Merge when pending values reach a quarter of those stored: O(n log n) overall.
        if self._pending_count >= max(MIN_MERGE, self._stored // 4):
            self._merge()

    def _merge(self) -> None:
        """Merge the pending values into the shards, shard by shard: no copy of all the
        pending values is made, so the memory this takes is a sixteenth of theirs."""
        if not self._pending:
            return
        pending, self._pending, self._pending_count = self._pending, [], 0
        firsts = np.arange(1 << SHARD_BITS, dtype=np.uint64) << np.uint64(64 - SHARD_BITS)
        bounds = [np.append(np.searchsorted(part, firsts), len(part)) for part in pending]
        for shard in range(1 << SHARD_BITS):
            parts = [part[b[shard] : b[shard + 1]] for part, b in zip(pending, bounds, strict=True)]
            parts = [part for part in parts if len(part)]
            if parts:
                new = _reduce(np.concatenate(parts)) if len(parts) > 1 else parts[0]
                self._shards[shard] = _off_heap(_merge_sorted(self._shards[shard], new))
        self._stored = sum(len(s) for s in self._shards)

    def counts(self, split_names: tuple[str, ...], shift: int) -> tuple[dict[str, int], int]:
        """Distinct values per split, and values seen in more than one split, for the 3-bit
        group of the tags at ``shift`` (0: the hash split, 3: the random contrast)."""
        return tag_counts(self.tag_histogram(), split_names, shift)

    def tag_histogram(self) -> np.ndarray:
        """How many distinct values have each tag: every count follows from it. One pass
        over the values, shard by shard (no copy of all of them), kept until the next add."""
        self._merge()
        if self._histogram is None:
            self._histogram = np.zeros(1 << TAG_BITS, np.int64)
            for shard in self._shards:
                self._histogram += np.bincount((shard & TAG_MASK).astype(np.uint8), minlength=1 << TAG_BITS)
        return self._histogram

    def __len__(self) -> int:
        self._merge()
        return self._stored


def tag_counts(histogram: np.ndarray, split_names: tuple[str, ...], shift: int) -> tuple[dict[str, int], int]:
    """``SplitMembership.counts`` from the histogram of tags (how many distinct values have each
    of the 64 tags), however it was counted: here, or by the Spark engine's ``GROUP BY``."""
    group = (np.arange(1 << TAG_BITS) >> shift) & 7  # of each tag
    per_split = {name: int(histogram[(group >> bit) & 1 == 1].sum()) for bit, name in enumerate(split_names)}
    return per_split, int(histogram[_POPCOUNT3[group] > 1].sum())
