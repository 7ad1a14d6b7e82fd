"""Tokens, vocabulary, length buckets and the order of batches of the torch model."""

from __future__ import annotations

import numpy as np
import pytest

from torch_model.data import (
    PAD_ID,
    UNK_ID,
    Vocabulary,
    bucket_starts,
    length_buckets,
    pad_batch,
    pass_generator,
    plan_pass,
    stream_batches,
)


def long_tailed_lengths(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1 + np.minimum(rng.lognormal(1.5, 0.9, size=count).astype(np.int64), 300)


def test_vocabulary_comes_from_the_given_texts_only_and_ignores_row_order() -> None:
    train = ["a good movie", "a bad movie", "good good plot!"]
    vocabulary = Vocabulary.build(train, max_vocab=100, min_count=1, max_tokens=10)
    assert vocabulary.tokens[:2] == ("<pad>", "<unk>")
    assert vocabulary.tokens[2:5] == ("good", "a", "movie")  # by count, then alphabetically
    assert Vocabulary.build(train[::-1], 100, 1, 10).tokens == vocabulary.tokens
    unseen = vocabulary.encode("a terrific movie")  # "terrific" is only in a later split
    assert unseen.tolist() == [vocabulary.tokens.index("a"), UNK_ID, vocabulary.tokens.index("movie")]
    assert vocabulary.encode("").tolist() == [UNK_ID]
    assert len(vocabulary.encode("good " * 50)) == 10
    assert Vocabulary.from_json(vocabulary.to_json()) == vocabulary
    assert Vocabulary.build(train, 100, 2, 10).tokens == ("<pad>", "<unk>", "good", "a", "movie")


def test_bucket_starts_grow_by_the_ratio() -> None:
    assert bucket_starts(25, 1.5) == [1, 2, 3, 5, 8, 12, 18, 27]
    lengths = np.array([1, 2, 3, 4, 5, 7, 8, 26])
    assert length_buckets(lengths, 1.5).tolist() == [0, 1, 2, 2, 3, 3, 4, 6]


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_a_pass_has_every_example_once_in_batches_of_one_bucket_padded_to_their_longest(
    batch_size: int,
) -> None:
    lengths = long_tailed_lengths(1000)
    buckets = length_buckets(lengths, 1.5)
    assert len(np.unique(buckets)) >= 8
    plan = plan_pass(buckets, batch_size, pass_generator(seed=3, pass_number=0))

    assert np.array_equal(np.sort(np.concatenate(plan)), np.arange(len(lengths)))
    sequences = [np.arange(1, n + 1) for n in lengths]
    for batch in plan:
        assert 1 <= len(batch) <= batch_size
        assert len(np.unique(buckets[batch])) == 1
        padded = pad_batch([sequences[i] for i in batch]).numpy()
        assert padded.shape == (len(batch), lengths[batch].max())
        for row, i in zip(padded, batch, strict=True):
            assert np.array_equal(row[: lengths[i]], sequences[i])
            assert (row[lengths[i] :] == PAD_ID).all()


def test_buckets_are_drawn_in_proportion_to_their_remaining_batches() -> None:
    # One bucket of 1 batch, one of 9. A uniform draw of buckets would start with the small
    # one half of the time; drawing by remaining batches, 1 time in 10.
    buckets = np.array([0] * 4 + [1] * 36)
    firsts = [plan_pass(buckets, 4, pass_generator(seed, 0))[0] for seed in range(400)]
    small_first = np.mean([buckets[batch[0]] == 0 for batch in firsts])
    assert 0.05 < small_first < 0.16
    positions = [
        next(i for i, b in enumerate(plan_pass(buckets, 4, pass_generator(seed, 0))) if buckets[b[0]] == 0)
        for seed in range(400)
    ]
    assert 4.0 < np.mean(positions) < 5.0  # uniform over positions 0..9: mean 4.5


def test_the_stream_is_cut_at_exact_example_counts_and_resumes_where_it_stopped() -> None:
    lengths = long_tailed_lengths(300, seed=1)
    buckets = length_buckets(lengths, 1.5)
    n, end = len(lengths), 750  # two and a half passes
    for batch_size in (5, 16, 64):
        whole = stream_batches(buckets, batch_size, seed=9, start=0, end=end)
        order = np.concatenate(whole)
        assert len(order) == end
        for p in range(2):
            assert np.array_equal(np.sort(order[p * n : (p + 1) * n]), np.arange(n))
        pieces = [
            stream_batches(buckets, batch_size, 9, lo, hi) for lo, hi in [(0, 123), (123, 500), (500, end)]
        ]
        assert np.array_equal(np.concatenate([b for piece in pieces for b in piece]), order)
    assert not np.array_equal(
        np.concatenate(stream_batches(buckets, 16, 9, 0, n)),
        np.concatenate(stream_batches(buckets, 16, 10, 0, n)),
    )
