"""The split-quality report written to ``metrics/split.json``."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the empirical CDFs."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a, b = np.sort(a), np.sort(b)
    points = np.union1d(a, b)
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower case, single spaces, no leading or trailing space."""
    return _SPACES.sub(" ", text).strip().lower()


def shared_across_splits(values_by_split: Mapping[str, Sequence[object]]) -> int:
    """How many distinct values occur in more than one split."""
    seen: dict[object, int] = {}
    for values in values_by_split.values():
        for value in set(values):
            seen[value] = seen.get(value, 0) + 1
    return sum(1 for count in seen.values() if count > 1)


def split_report(
    labels: Mapping[str, np.ndarray],
    keys: Mapping[str, Sequence[object]],
    texts: Mapping[str, Sequence[str]],
) -> dict[str, object]:
    """Rows, positive rate, distinct keys, pairwise KS distance and leakage per split."""
    names = list(labels)
    normalized = {name: [normalize_text(t) for t in texts[name]] for name in names}
    return {
        "rows": {name: int(len(labels[name])) for name in names},
        "positive_rate": {
            name: round(float(np.mean(labels[name])), 6) if len(labels[name]) else 0.0 for name in names
        },
        "distinct_keys": {name: len(set(keys[name])) for name in names},
        "ks_distance": {
            f"{a}_{b}": round(ks_distance(labels[a], labels[b]), 6)
            for a, b in itertools.combinations(names, 2)
        },
        "leakage": {
            "keys_in_several_splits": shared_across_splits(keys),
            "texts_in_several_splits": shared_across_splits(normalized),
        },
    }
