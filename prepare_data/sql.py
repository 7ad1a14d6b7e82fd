"""The configured split as SQL: ``python -m prepare_data.sql`` prints it for BigQuery and Spark SQL.

The query gives every input row with a mapped label and a text (not NULL) its ``label`` (0/1) and ``split``
(``train``, ``valid`` or ``test``); rows of no split are left out, as the local engine
leaves them out. It spells the same definition as ``prepare_data.hashing``:

- the key: ``CONCAT`` of ``CAST(x AS STRING)`` of each key column (a NULL part makes it NULL);
  ``key: []`` hashes the whole row as JSON (``TO_JSON_STRING`` in BigQuery, ``row_json``, the
  project's own function, in Spark: see spark_engine/README.md for where the two may differ);
- ``FARM_FINGERPRINT`` of it: BigQuery's own function; in Spark the project's implementation
  registered as the UDF ``farm_fingerprint`` (``spark_engine.split.register_udfs``);
- the bucket ``ABS(MOD(fp, modulus))`` (Spark: ``abs(fp % modulus)``; ``pmod`` is another
  function), and with ``sample`` S > 1 ``ABS(MOD(fp, S)) = 0`` and ``DIV(ABS(MOD(fp, S * modulus)), S)``;
- the sequential split: ``time_part`` of ``CAST(time_column AS TIMESTAMP)``, in UTC.

The Spark engine (``spark_engine.split``) builds its columns from these expressions, so
the printed query and the engine cannot drift apart.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence

import pyarrow as pa

from common.errors import PipelineError
from common.params import DataParams, SplitParams, load_params
from common.stage import run_stage
from common.tables import find_raw_file, open_batches
from prepare_data.labels import LABEL, value_set  # the local engine's cast and its errors

Dialect = typing.Literal["bigquery", "spark"]
DIALECTS: tuple[Dialect, ...] = ("bigquery", "spark")
# Names of the query's own columns (in the Spark engine too): they must not clash with input columns.
FP, BUCKET = "__fp", "__bucket"
SPLIT_COLUMN = "split"
INPUT_PLACEHOLDER = "`project.dataset.reviews`"

# The time parts as each engine extracts them from a TIMESTAMP (in UTC); day_of_week from
# Monday (1) to Sunday (7) as in the local engine (both engines' DAYOFWEEK start on Sunday).
_TIME_PARTS: dict[str, dict[Dialect, str]] = {
    "day_of_month": {"bigquery": "EXTRACT(DAY FROM {t})", "spark": "dayofmonth({t})"},
    "day_of_week": {"bigquery": "MOD(EXTRACT(DAYOFWEEK FROM {t}) + 5, 7) + 1", "spark": "weekday({t}) + 1"},
    "day_of_year": {"bigquery": "EXTRACT(DAYOFYEAR FROM {t})", "spark": "dayofyear({t})"},
    "month": {"bigquery": "EXTRACT(MONTH FROM {t})", "spark": "month({t})"},
    "hour": {"bigquery": "EXTRACT(HOUR FROM {t})", "spark": "hour({t})"},
    "year": {"bigquery": "EXTRACT(YEAR FROM {t})", "spark": "year({t})"},
}


def identifier(name: str) -> str:
    """A column name quoted for both dialects (backticks; a backtick inside is doubled in Spark
    and escaped in BigQuery, so such names are refused instead)."""
    if "`" in name or "\\" in name:
        raise PipelineError(
            f"column {name!r}: a backtick or backslash in a column name cannot be quoted in SQL"
        )
    return f"`{name}`"


def literal(value: object) -> str:
    """A SQL literal both dialects read the same way: strings quoted with backslash escapes."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{text}'"


def key_string(split: SplitParams, dialect: Dialect, columns: Sequence[str]) -> str:
    """The key as a STRING: ``CONCAT(CAST(a AS STRING), ...)``, or the row as JSON for ``key: []``."""
    if not split.key:
        fields = ", ".join(identifier(c) for c in columns)
        return f"TO_JSON_STRING(STRUCT({fields}))" if dialect == "bigquery" else f"row_json(struct({fields}))"
    parts = [f"CAST({identifier(name)} AS STRING)" for name in split.key]
    return parts[0] if len(parts) == 1 else f"CONCAT({', '.join(parts)})"


def fingerprint(split: SplitParams, dialect: Dialect, columns: Sequence[str]) -> str:
    function = "FARM_FINGERPRINT" if dialect == "bigquery" else "farm_fingerprint"
    return f"{function}({key_string(split, dialect, columns)})"


def abs_mod(value: str, modulus: int, dialect: Dialect) -> str:
    """``ABS(MOD(value, modulus))``: BigQuery's MOD and Spark's ``%`` both take the dividend's sign."""
    return f"ABS(MOD({value}, {modulus}))" if dialect == "bigquery" else f"abs({value} % {modulus})"


def bucket(split: SplitParams, dialect: Dialect, fp: str = FP) -> str:
    """The bucket of fingerprint column ``fp``; with ``sample`` > 1, -1 for a row not sampled
    (as ``prepare_data.hashing.assign_buckets``). NULL where ``fp`` is NULL."""
    if split.sample == 1:
        return abs_mod(fp, split.modulus, dialect)
    wide = abs_mod(fp, split.sample * split.modulus, dialect)
    div = f"DIV({wide}, {split.sample})" if dialect == "bigquery" else f"({wide} div {split.sample})"
    return f"CASE WHEN {abs_mod(fp, split.sample, dialect)} = 0 THEN {div} ELSE -1 END"


def time_position(split: SplitParams, dialect: Dialect) -> str:
    """``split.time_part`` of ``split.time_column`` (dates, timestamps or ISO 8601 strings)."""
    column = f"CAST({identifier(split.time_column)} AS TIMESTAMP)"
    return _TIME_PARTS[split.time_part][dialect].format(t=column)


def split_case(split: SplitParams, position: str = BUCKET, names: bool = True) -> str:
    """The split of each row from its bucket (or time position): a name, or its index (0-2)."""
    whens = [
        f"WHEN {position} >= {lo} AND {position} < {hi} THEN {literal(name) if names else index}"
        for index, (name, (lo, hi)) in enumerate(split.ranges().items())
    ]
    return f"CASE {' '.join(whens)} END"


def label_case(data: DataParams, label_type: pa.DataType | None = None) -> str:
    """``label``: 0 for a negative label, 1 for a positive one, NULL otherwise. With the label
    column's type known, the params' labels are cast to it first, as the local engine does
    (``[4]`` matches an integer column and the string ``'4'``)."""
    column = identifier(data.label_column)
    cases = []
    for value, labels in ((0, data.negative_labels), (1, data.positive_labels)):
        typed = typed_labels(labels, label_type, data.label_column, value)
        cases.append(f"WHEN {column} IN ({', '.join(map(literal, typed))}) THEN {value}")
    return f"CASE {' '.join(cases)} END"


def typed_labels(
    labels: Sequence[int | str], label_type: pa.DataType | None, column: str, which: int
) -> list[object]:
    """The params' labels in the label column's type (or as written, when it is unknown)."""
    if label_type is None:
        return list(labels)
    if pa.types.is_dictionary(label_type):
        label_type = label_type.value_type
    key = "negative_labels" if which == 0 else "positive_labels"
    return value_set(labels, pa.nulls(0, label_type), column, key).to_pylist()


def split_query(
    data: DataParams,
    split: SplitParams,
    dialect: Dialect,
    columns: Sequence[str],
    label_type: pa.DataType | None = None,
    source: str = INPUT_PLACEHOLDER,
) -> str:
    """The query that makes the configured split of table ``source`` with input ``columns``."""
    kept = ", ".join(identifier(c) for c in columns if c != LABEL)  # an input `label` is replaced
    if split.method == "hash":
        positioned = (
            f"    SELECT {kept}, {LABEL}, {bucket(split, dialect)} AS {BUCKET} FROM (\n"
            f"      SELECT {kept},\n"
            f"        {label_case(data, label_type)} AS {LABEL},\n"
            f"        {fingerprint(split, dialect, columns)} AS {FP}\n"
            f"      FROM {source}\n"
            "    )"
        )
    else:
        positioned = (
            f"    SELECT {kept},\n"
            f"      {label_case(data, label_type)} AS {LABEL},\n"
            f"      {time_position(split, dialect)} AS {BUCKET}\n"
            f"    FROM {source}"
        )
    return (
        "SELECT * FROM (\n"
        f"  SELECT {kept}, {LABEL}, {split_case(split)} AS {SPLIT_COLUMN} FROM (\n"
        f"{positioned}\n"
        "  )\n"
        ")\n"
        f"WHERE {LABEL} IS NOT NULL AND {SPLIT_COLUMN} IS NOT NULL AND {identifier(data.text_column)} IS NOT NULL"
    )


def raw_schema() -> pa.Schema | None:
    """The schema of ``data/raw``'s file as the local engine reads it, or None without one."""
    try:
        raw = find_raw_file()
    except PipelineError:
        return None
    schema, batches = open_batches(raw)
    close = getattr(batches, "close", None)
    if close is not None:
        close()
    return schema


def main() -> None:
    params = load_params()
    schema = raw_schema()
    if schema is not None:
        columns: list[str] = schema.names
        label_type = (
            schema.field(params.data.label_column).type if params.data.label_column in schema.names else None
        )
    else:
        # No data/raw yet: the columns the params name (list the others by hand for key: []).
        needed = [*params.split.key, params.data.text_column, params.data.label_column]
        if params.split.method == "sequential":
            needed.append(params.split.time_column)
        columns, label_type = list(dict.fromkeys(needed)), None
    header = (
        f"-- The split of params.yaml (split.method {params.split.method}), columns of "
        f"{'data/raw' if schema is not None else 'params.yaml only'}."
    )
    if schema is None and params.split.method == "hash" and not params.split.key:
        header += (
            "\n-- key: [] hashes every input column: run get_data first, or list them all in place of these."
        )
    print(f"{header}\n-- BigQuery (replace the table name):")
    print(split_query(params.data, params.split, "bigquery", columns, label_type) + ";")
    print(
        "\n-- Spark SQL (register the UDFs first: spark_engine.split.register_udfs(spark);"
        " and SET spark.sql.session.timeZone=UTC for the sequential split):"
    )
    print(split_query(params.data, params.split, "spark", columns, label_type, source="reviews") + ";")


if __name__ == "__main__":
    run_stage("prepare_data.sql", main)
