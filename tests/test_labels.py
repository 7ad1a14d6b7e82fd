"""Label mapping: negative -> 0, positive -> 1, anything else dropped."""

from __future__ import annotations

import pyarrow as pa

from prepare_data.labels import LABEL, map_labels


def test_maps_negative_and_positive_and_drops_the_rest() -> None:
    table = pa.table({"Sentiment": [0, 1, 2, 3, 4, 0, 4, None], "Phrase": list("abcdefgh")})
    mapped = map_labels(table, "Sentiment", negative=[0], positive=[4])
    assert mapped["Phrase"].to_pylist() == ["a", "e", "f", "g"]
    assert mapped[LABEL].to_pylist() == [0, 1, 0, 1]
    assert mapped[LABEL].type == pa.int8()
    assert mapped.column_names == ["Sentiment", "Phrase", LABEL]


def test_several_labels_per_class() -> None:
    table = pa.table({"Sentiment": [0, 1, 2, 3, 4]})
    mapped = map_labels(table, "Sentiment", negative=[0, 1], positive=[3, 4])
    assert mapped["Sentiment"].to_pylist() == [0, 1, 3, 4]
    assert mapped[LABEL].to_pylist() == [0, 0, 1, 1]


def test_string_label_column_matches_integer_params_and_string_params() -> None:
    table = pa.table({"y": ["neg", "pos", "4", "0", "meh"]})
    assert map_labels(table, "y", negative=[0], positive=[4])[LABEL].to_pylist() == [1, 0]
    assert map_labels(table, "y", negative=["neg"], positive=["pos"])[LABEL].to_pylist() == [0, 1]


def test_existing_label_column_is_replaced_not_duplicated() -> None:
    table = pa.table({"Sentiment": [0, 4], "label": ["x", "y"]})
    mapped = map_labels(table, "Sentiment", negative=[0], positive=[4])
    assert mapped.column_names == ["Sentiment", LABEL]
    assert mapped[LABEL].to_pylist() == [0, 1]
