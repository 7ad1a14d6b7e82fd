"""Texts to token ids, and the order in which the torch model sees them.

Examples are bucketed by token length and each batch is padded only to its own longest
example. Which example comes when is a pure function of ``(seed, examples seen)``, so a
resumed run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

PAD_ID = 0
UNK_ID = 1
SPECIAL_TOKENS = ("<pad>", "<unk>")
# Words (with an optional 's / 't tail) and single punctuation marks, lower-cased.
TOKEN_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Token strings by id; ids 0 and 1 are padding and unknown tokens."""

    tokens: tuple[str, ...]
    max_tokens: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {token: i for i, token in enumerate(self.tokens)})

    @classmethod
    def build(cls, texts: Iterable[str], max_vocab: int, min_count: int, max_tokens: int) -> Vocabulary:
        """The ``max_vocab`` most frequent tokens seen at least ``min_count`` times.

        Ties in frequency are broken by the token itself, so the ids never depend on
        the order of the rows.
        """
        counts = Counter(token for text in texts for token in tokenize(text))
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls((*SPECIAL_TOKENS, *kept[:max_vocab]), max_tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, cut to ``max_tokens``; a text without tokens is one unknown token."""
        ids = self._ids  # type: ignore[attr-defined]
        encoded = [ids.get(token, UNK_ID) for token in tokenize(text)[: self.max_tokens]]
        return np.asarray(encoded or [UNK_ID], dtype=np.int64)

    def encode_all(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(text) for text in texts]

    def to_json(self) -> dict[str, object]:
        return {"tokens": list(self.tokens), "max_tokens": self.max_tokens, "pattern": TOKEN_PATTERN.pattern}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Vocabulary:
        return cls(tuple(data["tokens"]), int(data["max_tokens"]))  # type: ignore[arg-type, call-overload]


def bucket_starts(max_length: int, ratio: float) -> list[int]:
    """First length of each bucket: 1, 2, 3, 5, 8, 12, ... for ``ratio`` 1.5.

    A bucket holds lengths from its start up to below ``ratio`` times it, so a batch never
    pads its shortest example to more than about ``ratio`` times its length.
    """
    starts = [1]
    while starts[-1] <= max_length:
        starts.append(max(starts[-1] + 1, math.ceil(starts[-1] * ratio)))
    return starts


def length_buckets(lengths: np.ndarray, ratio: float) -> np.ndarray:
    """The bucket number of each example, from its token length."""
    starts = np.asarray(bucket_starts(int(lengths.max()), ratio))
    return np.searchsorted(starts, lengths, side="right") - 1


def pass_generator(seed: int, pass_number: int) -> torch.Generator:
    """The generator that orders one pass over the data; independent streams per pass."""
    state = np.random.SeedSequence([seed, pass_number]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def plan_pass(buckets: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """One pass over all examples as batches of example indices.

    Each bucket is shuffled and cut into batches; then the next batch comes from a bucket
    drawn with probability proportional to its remaining batches. Drawing buckets
    uniformly instead would empty small buckets early and skew the order of examples.
    """
    per_bucket: list[list[np.ndarray]] = []
    for bucket in np.unique(buckets):
        members = np.flatnonzero(buckets == bucket)
        shuffled = members[torch.randperm(len(members), generator=generator).numpy()]
        per_bucket.append([shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)])
    remaining = torch.tensor([len(batches) for batches in per_bucket], dtype=torch.float64)
    taken = [0] * len(per_bucket)
    plan = []
    for _ in range(int(remaining.sum())):
        bucket = int(torch.multinomial(remaining, 1, generator=generator))
        plan.append(per_bucket[bucket][taken[bucket]])
        taken[bucket] += 1
        remaining[bucket] -= 1
    return plan


def stream_batches(buckets: np.ndarray, batch_size: int, seed: int, start: int, end: int) -> list[np.ndarray]:
    """The batches covering examples ``[start, end)`` of the endless stream of passes.

    Pass ``p`` covers examples ``[p * n, (p + 1) * n)``. A batch that straddles ``start`` or
    ``end`` is cut there, so a virtual epoch ends exactly at its example count whatever
    the batch size, and the rest of the batch opens the next one.
    """
    n = len(buckets)
    batches = []
    pass_number = start // n
    position = pass_number * n
    while position < end:
        for batch in plan_pass(buckets, batch_size, pass_generator(seed, pass_number)):
            lo, hi = max(start - position, 0), min(end - position, len(batch))
            if lo < hi:
                batches.append(batch[lo:hi])
            position += len(batch)
            if position >= end:
                break
        pass_number += 1
    return batches


def pad_batch(sequences: Sequence[np.ndarray], pad_to: int | None = None) -> torch.Tensor:
    """Token ids as a ``[batch, width]`` tensor padded with ``PAD_ID``.

    ``width`` is the longest sequence of this batch, or ``pad_to`` (the benchmark's
    pad-to-the-dataset-maximum baseline).
    """
    width = pad_to if pad_to is not None else max(len(s) for s in sequences)
    padded = np.full((len(sequences), width), PAD_ID, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    return torch.from_numpy(padded)


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches for scoring: sorted by length (little padding), in a fixed order."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
