"""Label mapping: negative -> 0, positive -> 1, anything else dropped."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from common.errors import PipelineError
from common.params import DataParams
from prepare_data.labels import LABEL, label_mask
from prepare_data.split import output_schema


def map_labels(
    table: pa.Table, label_column: str, negative: list[int | str], positive: list[int | str]
) -> pa.Table:
    """The rows ``label_mask`` keeps, with ``label`` (int8, 0 or 1) as the stage writes it."""
    is_negative, is_positive = label_mask(table[label_column], negative, positive, label_column)
    keep = pc.or_(is_negative, is_positive)
    kept = table.filter(keep).drop_columns([c for c in table.column_names if c == LABEL])
    label = pc.cast(pc.filter(is_positive, keep), pa.int8())
    return kept.append_column(LABEL, label).cast(output_schema(table.schema))


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


@pytest.mark.parametrize("count", [1, 2, 4, 5, 9])  # compared value by value up to 4, then is_in
def test_label_sets_of_any_size_match_set_membership(count: int) -> None:
    values = [None, *range(20), 3, None, 19]
    negative, positive = list(range(count)), list(range(10, 10 + count))
    mapped = map_labels(pa.table({"y": values}), "y", negative=negative, positive=positive)
    kept = [v for v in values if v in negative or v in positive]
    assert mapped["y"].to_pylist() == kept
    assert mapped[LABEL].to_pylist() == [int(v in positive) for v in kept]


def test_string_label_column_matches_integer_params_and_string_params() -> None:
    table = pa.table({"y": ["neg", "pos", "4", "0", "meh"]})
    assert map_labels(table, "y", negative=[0], positive=[4])[LABEL].to_pylist() == [1, 0]
    assert map_labels(table, "y", negative=["neg"], positive=["pos"])[LABEL].to_pylist() == [0, 1]


def test_existing_label_column_is_replaced_not_duplicated() -> None:
    table = pa.table({"Sentiment": [0, 4], "label": ["x", "y"]})
    mapped = map_labels(table, "Sentiment", negative=[0], positive=[4])
    assert mapped.column_names == ["Sentiment", LABEL]
    assert mapped[LABEL].to_pylist() == [0, 1]


def test_dictionary_label_column_is_compared_by_its_values(tmp_path: Path) -> None:
    # A string column written from a pandas category reads back from parquet dictionary-encoded.
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"y": pa.array(["neg", "pos", "meh", None]).dictionary_encode()}), path)
    table = pq.read_table(path)
    assert pa.types.is_dictionary(table["y"].type)
    assert map_labels(table, "y", negative=["neg"], positive=["pos"])[LABEL].to_pylist() == [0, 1]
    assert map_labels(table, "y", negative=[0], positive=["pos"])[LABEL].to_pylist() == [1]
    ints = table.append_column("Sentiment", pa.array([0, 4, 2, 4]).dictionary_encode())
    assert map_labels(ints, "Sentiment", negative=[0], positive=[4])[LABEL].to_pylist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("negative", "positive", "expected"),
    [
        (
            ["neg"],
            [4],
            "data.negative_labels: 'neg' cannot be compared with column 'Sentiment' "
            "(data.label_column) of type int8",
        ),
        ([0], [4, 300], "data.positive_labels: 300 cannot be compared with column 'Sentiment'"),
    ],
)
def test_a_label_the_column_type_cannot_hold_is_one_clear_error(
    negative: list, positive: list, expected: str
) -> None:
    table = pa.table({"Sentiment": pa.array([0, 4], pa.int8())})
    with pytest.raises(PipelineError) as error:
        map_labels(table, "Sentiment", negative=negative, positive=positive)
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_labels_of_several_types_fit_a_column_value_by_value() -> None:
    table = pa.table({"score": pa.array([0.0, 1.0, 4.0])})
    assert map_labels(table, "score", negative=[0, "1"], positive=[4])[LABEL].to_pylist() == [0, 0, 1]


def test_a_label_both_negative_and_positive_as_text_is_refused() -> None:
    # `[4]` and `["4"]` match the same rows of a string label column.
    with pytest.raises(PipelineError, match=r"data: labels \['4'\] are both negative and positive"):
        DataParams(negative_labels=(0, 4), positive_labels=("4",))


def test_value_sets_built_once_per_column_type_match_each_type() -> None:
    """The params' labels are cast once per column type (cached), never reused for another."""
    for column in (pa.array([4, 0, 2]), pa.array(["4", "0", "2"]), pa.array([4, 0, 2], pa.int8())) * 2:
        negative, positive = label_mask(column, [0], [4])
        assert (negative.to_pylist(), positive.to_pylist()) == ([False, True, False], [True, False, False])
    for _ in range(2):  # an error is raised every time, not cached away
        with pytest.raises(PipelineError, match=r"data\.negative_labels: 'neg' cannot be compared"):
            label_mask(pa.array([1.5]), ["neg"], [4], "y")
