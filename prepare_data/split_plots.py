"""Plot data of the split: the label's and the text length's cumulative distribution per split.

The article "Random splitting is Wicked" plots the cumulative distribution of the label (and
of any column that matters) for each split and checks the largest vertical gap between two
of them: the Kolmogorov-Smirnov distance that ``metrics/split.json`` reports for the label.
``prepare_data`` writes the two CDFs as DVC plot data, one row per x value and a column per
split (``train``, ``valid``, ``test``), so ``dvc plots show`` draws a line per split (and per
revision); ``dvc.yaml``'s ``split_label_cdf`` and ``split_text_length_cdf`` draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from prepare_data.hashing import numpy_bools

LABEL_CDF_FILE = Path("metrics/split_label_cdf.json")
TEXT_LENGTH_CDF_FILE = Path("metrics/split_text_length_cdf.json")
PLOT_FILES = (LABEL_CDF_FILE, TEXT_LENGTH_CDF_FILE)
# At most about this many x values in the text-length CDF: every distinct length when there
# are fewer, else the lengths where the CDF of all splits together crosses each 1/MAX_POINTS.
MAX_POINTS = 200


class TextLengths:
    """Histogram of text lengths (Unicode characters) per split; null texts are not counted."""

    def __init__(self, splits: int) -> None:
        self.counts = np.zeros((splits, 1), np.int64)

    def add(self, split_index: np.ndarray, texts: pa.Array) -> None:
        """Texts of one batch and the split (0, 1, ...) of each."""
        if len(texts) == 0 or pa.types.is_null(texts.type):
            return
        valid = numpy_bools(texts.is_valid())
        values = character_lengths(texts)[valid]
        if len(values) == 0:
            return
        width = max(self.counts.shape[1], int(values.max()) + 1)
        if width > self.counts.shape[1]:
            self.counts = np.pad(self.counts, ((0, 0), (0, width - self.counts.shape[1])))
        splits = len(self.counts)
        flat = split_index[valid].astype(np.int64) * width + values
        self.counts += np.bincount(flat, minlength=splits * width).reshape(splits, width)


def character_lengths(texts: pa.Array) -> np.ndarray:
    """Unicode characters of each text (int64; whatever for a null), from the offsets in hand:
    its bytes less its UTF-8 continuation bytes (``10xxxxxx``), which are few or none.

    ``pc.utf8_length`` and its conversion to numpy instead (``np.asarray`` of an Arrow array
    imports pandas: 0.18 s at start-up) took 8.9% of the stage's samples at 10M rows (py-spy,
    issue 26); this histogram now takes 0.6% of them."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    width = 8 if pa.types.is_large_string(texts.type) else 4
    offsets = np.frombuffer(texts.buffers()[1], f"<i{width}", len(texts) + 1, texts.offset * width)
    lengths = np.diff(offsets).astype(np.int64)
    data = texts.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return lengths
    values = np.frombuffer(data, np.uint8, int(offsets[-1] - offsets[0]), int(offsets[0]))
    continuation = np.flatnonzero((values & 0xC0) == 0x80)
    if len(continuation):
        owners = np.searchsorted(offsets[1:] - offsets[0], continuation, side="right")
        lengths -= np.bincount(owners, minlength=len(texts))
    return lengths


def cdf(counts: np.ndarray) -> np.ndarray:
    """Cumulative shares of a histogram (all 0 for an empty one)."""
    total = counts.sum()
    return np.cumsum(counts) / total if total else np.zeros(len(counts))


def label_cdf_rows(label_counts: np.ndarray, splits: Sequence[str]) -> list[dict[str, float | int]]:
    """Per label value (0, 1): the share of each split's rows with a label up to it."""
    cdfs = {name: cdf(counts) for name, counts in zip(splits, label_counts, strict=True)}
    return [
        {"label": label, **{name: round(float(values[label]), 6) for name, values in cdfs.items()}}
        for label in range(label_counts.shape[1])
    ]


def length_points(counts: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """The lengths at which to draw the CDFs: every length some text has, or when there are
    more than ``max_points``, the first length at which all splits together reach each
    1/max_points of their rows, and the shortest length."""
    total = counts.sum(axis=0)
    present = np.flatnonzero(total)
    if len(present) <= max_points:
        return present
    combined = cdf(total)
    targets = np.arange(1, max_points + 1) / max_points
    crossings = np.searchsorted(combined, targets - 1e-12, side="left")
    return np.unique(np.concatenate([present[:1], np.minimum(crossings, len(total) - 1)]))


def length_cdf_rows(counts: np.ndarray, splits: Sequence[str]) -> list[dict[str, float | int]]:
    """Per text length: the share of each split's texts at most that long."""
    points = length_points(counts)
    cdfs = {name: cdf(row) for name, row in zip(splits, counts, strict=True)}
    return [
        {"length": int(length), **{name: round(float(values[length]), 6) for name, values in cdfs.items()}}
        for length in points
    ]
