"""A synthetic movie-review phrase data set shaped like the Rotten Tomatoes phrase data.

Each sentence is a sequence of words from a vocabulary where some words carry sentiment.
Like the original data, a sentence contributes several phrases: itself and contiguous
sub-spans of it, all sharing its ``SentenceId``. A phrase's ``Sentiment`` (0..4) comes from
the polarity of its words plus noise, so labels are learnable from words but not perfectly,
and a random split leaks near-identical phrases across splits while a split on
``SentenceId`` does not.

Everything is drawn from one seeded ``numpy`` PCG64 generator: same params, same bytes.
"""

from __future__ import annotations

import numpy as np

from common.data_columns import SYNTHETIC_COLUMNS

POSITIVE = {
    "brilliant": 2, "masterpiece": 2, "superb": 2, "wonderful": 2, "moving": 2, "delightful": 2,
    "stunning": 2, "hilarious": 2, "gripping": 2, "luminous": 2, "triumphant": 2, "unforgettable": 2,
    "good": 1, "charming": 1, "fun": 1, "clever": 1, "warm": 1, "enjoyable": 1, "solid": 1,
    "engaging": 1, "smart": 1, "sweet": 1, "fresh": 1, "heartfelt": 1, "witty": 1, "lively": 1,
}  # fmt: skip
NEGATIVE = {
    "awful": -2, "terrible": -2, "dreadful": -2, "unwatchable": -2, "disaster": -2, "tedious": -2,
    "pointless": -2, "insufferable": -2, "painful": -2, "lifeless": -2, "incoherent": -2, "worst": -2,
    "dull": -1, "flat": -1, "bland": -1, "silly": -1, "clumsy": -1, "predictable": -1, "slow": -1,
    "messy": -1, "thin": -1, "forced": -1, "stale": -1, "shallow": -1, "overlong": -1, "weak": -1,
}  # fmt: skip
NEUTRAL = (
    "the a an this that its his her their film movie story plot director script actor actress cast "
    "scene scenes camera picture drama comedy thriller romance sequel ending beginning character "
    "characters dialogue score soundtrack screen audience hour minutes moment moments world life "
    "love family city night day time year man woman children war history music dance house road "
    "is was are be has have it as with of in on for and but by from about into through over after "
    "some more most much very quite rather almost never often still just also even yet again "
    "first second last new old young long short big small whole own other such same each every"
).split()

VOCABULARY = [*NEUTRAL, *POSITIVE, *NEGATIVE]
POLARITY = np.array([0] * len(NEUTRAL) + list(POSITIVE.values()) + list(NEGATIVE.values()))
COLUMNS = SYNTHETIC_COLUMNS


def _sentence_words(rng: np.random.Generator) -> np.ndarray:
    """Word indices of one sentence: mostly neutral words, polar ones leaning one way."""
    length = int(rng.integers(6, 26))
    lean = rng.normal(0.0, 1.0)  # > 0 leans positive
    polar = rng.random(length) < 0.3
    positive = rng.random(length) < 1.0 / (1.0 + np.exp(-2.5 * lean))
    n_neutral, n_pos = len(NEUTRAL), len(POSITIVE)
    words = rng.integers(0, n_neutral, size=length)
    pos_words = n_neutral + rng.integers(0, n_pos, size=length)
    neg_words = n_neutral + n_pos + rng.integers(0, len(NEGATIVE), size=length)
    return np.where(polar, np.where(positive, pos_words, neg_words), words)


def _sentiment(words: np.ndarray, rng: np.random.Generator) -> int:
    """0..4 from the words' summed polarity plus noise: learnable, never perfectly."""
    score = float(POLARITY[words].sum()) + rng.normal(0.0, 2.0)
    return int(np.digitize(score, [-2.5, -0.75, 0.75, 2.5]))


def generate_reviews(rows: int, seed: int) -> dict[str, list]:
    """``rows`` phrases as columns ``PhraseId, SentenceId, Phrase, Sentiment``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    sentence_id = 0
    while len(columns["PhraseId"]) < rows:
        sentence_id += 1
        words = _sentence_words(rng)
        spans = [(0, len(words))]
        for _ in range(int(rng.integers(2, 14))):
            start = int(rng.integers(0, len(words)))
            stop = int(rng.integers(start + 1, len(words) + 1))
            spans.append((start, stop))
        for start, stop in spans:
            if len(columns["PhraseId"]) == rows:
                break
            span = words[start:stop]
            columns["PhraseId"].append(len(columns["PhraseId"]) + 1)
            columns["SentenceId"].append(sentence_id)
            columns["Phrase"].append(" ".join(VOCABULARY[i] for i in span))
            columns["Sentiment"].append(_sentiment(span, rng))
    return columns


def to_tsv(columns: dict[str, list]) -> bytes:
    """Tab-separated, header first, no quoting (phrases hold no tabs or newlines)."""
    names = list(columns)
    lines = ["\t".join(names)]
    lines += ["\t".join(map(str, row)) for row in zip(*(columns[n] for n in names), strict=True)]
    return ("\n".join(lines) + "\n").encode()
