"""The split-quality report written to ``metrics/split.json`` and its one-screen summary.

Figures per split: rows, positive rate, distinct keys; the pairwise Kolmogorov-Smirnov
distance of the label distributions; leakage (keys, and identical normalized texts, found in
more than one split), and the same leakage for a seeded random split of the same rows, the
original pipeline's ``train_test_split``, for contrast. Everything is accumulated batch by
batch (``SplitStats.add``) so the report costs no second pass and flat-ish memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError
from common.params import SplitParams
from prepare_data.hashing import fill_nulls, mix64, mix64_inplace, numpy_bools, string_buffer, unaligned_loads
from prepare_data.membership import SplitMembership, tag_counts
from prepare_data.split_plots import (
    LABEL_CDF_FILE,
    TEXT_LENGTH_CDF_FILE,
    TextLengths,
    label_cdf_rows,
    length_cdf_rows,
)

SPLITS = ("train", "valid", "test")
# Why rows land in no split, in the order they are checked: each row is counted once.
DROPPED = ("label_not_mapped", "null_text", "null_key", "not_sampled", "unassigned")
# Below this many distinct keys per bucket, bucket sizes (and so split sizes and label
# rates) vary a lot by chance. The article says "several times the modulus"; we take 10.
KEYS_PER_BUCKET = 10
# With split.max_ks unset, a pairwise KS distance above this is a warning, not an error.
DEFAULT_KS_WARNING = 0.05
_WHITESPACE = "[ \t\n\v\f\r]+"
_TEXT_SALT = 0x243F6A8885A308D3  # any fixed constant (digits of pi): salts word positions


class Leakage(TypedDict):
    """Distinct keys, and distinct normalized texts, found in more than one split."""

    keys_in_several_splits: int
    texts_in_several_splits: int


class RandomSplitLeakage(Leakage):
    """The same leakage for the seeded random split of the same rows (the contrast)."""

    seed: int


class SplitReport(TypedDict):
    """``metrics/split.json``: dicts keyed by split name (``SPLITS``), a KS pair (``train_valid``)
    or a drop reason (``DROPPED``)."""

    method: Literal["hash", "sequential"]
    rows: dict[str, int]
    positive_rate: dict[str, float]
    distinct_keys: dict[str, int]
    distinct_keys_total: int
    ks_distance: dict[str, float]
    leakage: Leakage
    random_split_leakage: RandomSplitLeakage
    dropped: dict[str, int]
    # Added by the engines after build_report (check_report's findings).
    warnings: NotRequired[list[str]]


def ks_from_counts(counts_a: np.ndarray, counts_b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance (the largest gap between the empirical CDFs) of
    two samples given as counts of each label value (0, 1, ...)."""
    if counts_a.sum() == 0 or counts_b.sum() == 0:
        return 0.0
    cdf_a = np.cumsum(counts_a) / counts_a.sum()
    cdf_b = np.cumsum(counts_b) / counts_b.sum()
    return float(np.max(np.abs(cdf_a - cdf_b)))


def normalize_texts(texts: pa.Array) -> pa.Array:
    """Lower case, runs of ASCII whitespace as one space, no leading or trailing space."""
    data = texts.buffers()[2]
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    ascii_only = data is None or np.all(np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] < 0x80)
    lower = pc.ascii_lower(texts) if ascii_only else pc.utf8_lower(texts)
    # The regex replace is slow; most texts are already single-spaced, so check first.
    if _needs_whitespace_fix(lower):
        lower = pc.utf8_trim(pc.replace_substring_regex(lower, _WHITESPACE, " "), " ")
    return lower


def _needs_whitespace_fix(texts: pa.Array) -> bool:
    """Whether a text may hold ASCII whitespace other than single inner spaces: a byte scan of
    the values' bytes (memchr-fast) instead of a regex match per text. It may say yes for
    text that needs no fix (bytes under a null slot), which only costs the regex's time."""
    data = texts.buffers()[2]
    if data is None or len(texts) == 0:
        return False
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    values = memoryview(data)[offsets[0] : offsets[-1]]
    copied = values.tobytes()  # bytes.find is a memchr per whitespace character
    if any(copied.find(char) >= 0 for char in (b"\t", b"\n", b"\v", b"\f", b"\r")):
        return True
    # Two spaces in a row: compare byte pairs at even and at odd positions, as uint16s.
    if len(copied) >= 2:
        even = np.frombuffer(copied, np.uint16, len(copied) // 2)
        odd = np.frombuffer(copied, np.uint16, (len(copied) - 1) // 2, 1)
        if np.any(even == 0x2020) or np.any(odd == 0x2020):
            return True
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = ends > starts
    if not nonempty.any():
        return False
    view = np.frombuffer(data, np.uint8)
    space = np.uint8(ord(" "))
    return bool(np.any(view[starts[nonempty]] == space) or np.any(view[ends[nonempty] - 1] == space))


def text_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash of each normalized text, is_valid); nulls have no hash."""
    if not pa.types.is_string(texts.type):
        texts = texts.cast(pa.string())
    return string_hashes(fill_nulls(normalize_texts(texts), "")), numpy_bools(texts.is_valid())


def string_hashes(strings: pa.Array) -> np.ndarray:
    """A 64-bit hash (uint64) of each value's bytes, computed in numpy over all values at once.

    Each value is read as 8-byte little-endian words, the last one zero-padded; a word is
    mixed with a constant for its position in the value, the mixed words are summed, and the
    sum is mixed with the length. The hashes only count texts within one run, so they need no
    published reference values. FarmHash of each text instead (``hashing.farm_fingerprints``,
    a C call per text over 32 bytes) was measured with ``benchmarks/prepare_data.py`` at 10M
    rows, 7 interleaved runs: the stage's median 5.1% slower against the floor (0.723x
    against 0.688x before) and 5.9% more CPU, against 1.5% and 0.2% with this hash: the C
    calls hold the GIL, which this stage's threads share.
    """
    if len(strings) == 0:
        return np.zeros(0, np.uint64)
    padded, _, lengths = string_buffer(strings)
    words_per_value = lengths // 8 + 1  # the last word holds the len % 8 trailing bytes (maybe none)
    ends = np.cumsum(words_per_value)
    firsts = ends - words_per_value
    total = int(ends[-1])
    # Each word's byte position: 8 after the previous word, except at a value's first word.
    step = np.full(total, 8, np.int64)
    step[firsts[1:]] = lengths[:-1] % 8
    step[0] = 0
    positions = np.cumsum(step, out=step)
    words = unaligned_loads(padded, 8)[positions]  # the last value's last word reads the padding
    last = ends - 1
    keep_bytes = (lengths % 8).astype(np.uint64) * np.uint64(8)
    words[last] &= (np.uint64(1) << keep_bytes) - np.uint64(1)
    # The word's index within its value: 0 at each value's first word, +1 after.
    index_step = np.ones(total, np.int32)
    index_step[firsts[1:]] = 1 - words_per_value[:-1]
    index_step[0] = 0
    word_index = np.cumsum(index_step, out=index_step)
    position_salt = mix64(np.arange(int(words_per_value.max()), dtype=np.uint64) ^ np.uint64(_TEXT_SALT))
    words += position_salt[word_index]
    mix64_inplace(words)
    sums = np.cumsum(words, out=words)  # sum per value: differences of the running sum (mod 2**64)
    per_value = sums[last]
    per_value[1:] -= sums[last[:-1]]
    per_value ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return mix64_inplace(per_value)


def random_split(row_numbers: np.ndarray, seed: int, widths: Sequence[int]) -> np.ndarray:
    """A seeded uniform random split of rows: split ``i`` with probability ``widths[i] / sum``.

    Counter-based (a hash of seed and row number), so it does not depend on batch sizes.
    """
    salt = mix64(np.array([seed], np.int64))[0]
    uniform = (mix64(row_numbers.astype(np.uint64) ^ salt) >> np.uint64(11)).astype(np.float64) / 2.0**53
    bounds = np.cumsum(widths)[:-1] / np.sum(widths)
    return np.searchsorted(bounds, uniform, side="right").astype(np.int8)


class SplitStats:
    """Report figures accumulated over the batches of a split."""

    def __init__(self, split: SplitParams) -> None:
        self.split = split
        self.label_counts = np.zeros((len(SPLITS), 2), np.int64)
        self.keys = SplitMembership()
        self.texts = SplitMembership()
        self.dropped = {name: 0 for name in DROPPED}
        self.rows_in_splits = 0
        self.text_lengths = TextLengths(len(SPLITS))

    def add(
        self,
        split_index: np.ndarray,
        labels: np.ndarray,
        keys: np.ndarray,
        texts: pa.Array,
        ranks: np.ndarray,
    ) -> None:
        """A batch's rows that landed in a split: their split (0-2), label (0/1), 64-bit key,
        text, and rank among them in input order (the random contrast numbers rows by it)."""
        widths = [hi - lo for lo, hi in self.split.ranges().values()]
        random_index = random_split(self.rows_in_splits + ranks, self.split.seed, widths)
        self.rows_in_splits += len(split_index)
        tags = (np.uint8(1) << split_index.astype(np.uint8)) | (np.uint8(8) << random_index.astype(np.uint8))
        pairs = split_index.astype(np.int64) * 2 + labels
        self.label_counts += np.bincount(pairs, minlength=2 * len(SPLITS)).reshape(len(SPLITS), 2)
        self.keys.add(keys, tags)
        hashes, valid = text_hashes(texts)
        self.texts.add(hashes[valid], tags[valid])
        self.text_lengths.add(split_index, texts)

    def plot_data(self) -> dict[Path, list[dict[str, float | int]]]:
        """The plot files of the split (``prepare_data.split_plots``) and their rows."""
        return {
            LABEL_CDF_FILE: label_cdf_rows(self.label_counts, SPLITS),
            TEXT_LENGTH_CDF_FILE: length_cdf_rows(self.text_lengths.counts, SPLITS),
        }

    def report(self) -> SplitReport:
        return build_report(
            self.split, self.label_counts, self.keys.tag_histogram(), self.texts.tag_histogram(), self.dropped
        )


def build_report(
    split: SplitParams,
    label_counts: np.ndarray,
    key_tags: np.ndarray,
    text_tags: np.ndarray,
    dropped: Mapping[str, int],
) -> SplitReport:
    """The report from its figures: rows per split and label (3 x 2), and the histograms of the
    tags of distinct keys and texts (``prepare_data.membership``). Both engines end here."""
    distinct_keys, keys_shared = tag_counts(key_tags, SPLITS, 0)
    _, texts_shared = tag_counts(text_tags, SPLITS, 0)
    _, random_keys_shared = tag_counts(key_tags, SPLITS, 3)
    _, random_texts_shared = tag_counts(text_tags, SPLITS, 3)
    counts = dict(zip(SPLITS, label_counts, strict=True))
    rows = {name: int(c.sum()) for name, c in counts.items()}
    return {
        "method": split.method,
        "rows": rows,
        "positive_rate": {
            name: round(float(c[1] / c.sum()), 6) if c.sum() else 0.0 for name, c in counts.items()
        },
        "distinct_keys": distinct_keys,
        "distinct_keys_total": int(key_tags.sum()),
        "ks_distance": {
            f"{a}_{b}": round(ks_from_counts(counts[a], counts[b]), 6)
            for a, b in itertools.combinations(SPLITS, 2)
        },
        "leakage": {"keys_in_several_splits": keys_shared, "texts_in_several_splits": texts_shared},
        "random_split_leakage": {
            "keys_in_several_splits": random_keys_shared,
            "texts_in_several_splits": random_texts_shared,
            "seed": split.seed,
        },
        "dropped": dict(dropped),
    }


# Fewer rows of a label than this in a split: its metrics say little (a warning).
MIN_CLASS_ROWS = 10


def check_report(report: SplitReport, split: SplitParams, source: str) -> list[str]:
    """The report's warnings; raises ``PipelineError`` if a KS distance exceeds ``split.max_ks``."""
    warnings = []
    dropped = report["dropped"]
    rows = report["rows"]
    if dropped["null_text"]:
        warnings.append(f"{dropped['null_text']} rows have a NULL text and land in no split")
    if dropped["null_key"]:
        what = "split.time_column" if split.method == "sequential" else f"split.key {list(split.key)}"
        warnings.append(f"{dropped['null_key']} rows have a NULL in {what} and land in no split")
    if dropped["unassigned"]:
        warnings.append(f"{dropped['unassigned']} rows fall outside every split range and are dropped")
    distinct = report["distinct_keys_total"]
    if split.method == "hash" and distinct < KEYS_PER_BUCKET * split.modulus:
        warnings.append(
            f"only {distinct} distinct keys for modulus {split.modulus}: fewer than {KEYS_PER_BUCKET} per "
            "bucket, so split sizes and label rates vary a lot by chance (lower split.modulus)"
        )
    warnings += [f"split {name} is empty" for name, count in rows.items() if count == 0]
    for name, count in rows.items():
        positives = round(report["positive_rate"][name] * count)
        smaller = min(positives, count - positives)
        if count and smaller < MIN_CLASS_ROWS:
            warnings.append(
                f"split {name} has only {smaller} rows of label {int(positives < count - positives)}"
            )
    threshold = split.max_ks if split.max_ks is not None else DEFAULT_KS_WARNING
    for pair, distance in report["ks_distance"].items():
        if distance > threshold and split.max_ks is not None:
            raise PipelineError(
                f"{source}: KS distance of the label distributions {pair} is {distance} > split.max_ks "
                f"({split.max_ks}); the splits' label rates differ: {report['positive_rate']}"
            )
        if distance > threshold:
            warnings.append(
                f"KS distance {pair} is {distance} > {threshold} (set split.max_ks to fail on this)"
            )
    return warnings


def require_both_labels(report: SplitReport, source: str) -> None:
    """The stage fails, before it replaces anything, when a non-empty split holds one label
    only: train cannot fit it, nor evaluate score it, and train would fail later, after DVC had
    already run this stage."""
    for name, count in report["rows"].items():
        positives = round(report["positive_rate"][name] * count)
        if count and positives in (0, count):
            label = int(positives == count)
            raise PipelineError(
                f"{source}: split {name} has {count} rows, all of label {label} (none of label {1 - label}); "
                "check data.negative_labels and data.positive_labels, or the split ranges"
            )


def summary(report: SplitReport) -> str:
    """A one-screen text summary of the report."""
    lines = [f"{'split':<6} {'rows':>10} {'positive':>9} {'keys':>10}"]
    for name in SPLITS:
        lines.append(
            f"{name:<6} {report['rows'][name]:>10} {report['positive_rate'][name]:>9.4f} "
            f"{report['distinct_keys'][name]:>10}"
        )
    lines.append("KS distance: " + ", ".join(f"{k} {v:.4f}" for k, v in report["ks_distance"].items()))
    ours, random = report["leakage"], report["random_split_leakage"]
    lines.append(
        f"leakage: keys in several splits {ours['keys_in_several_splits']} "
        f"(random split: {random['keys_in_several_splits']}), identical texts in several splits "
        f"{ours['texts_in_several_splits']} (random split: {random['texts_in_several_splits']})"
    )
    lines.append("dropped: " + ", ".join(f"{k} {v}" for k, v in report["dropped"].items()))
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)
