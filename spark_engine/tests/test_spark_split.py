"""split.engine: spark and the split as SQL, on a real Spark (local[2], one session for the module).

The Spark engine must give the local engine's answer: the same files (byte for byte here, where
both engines read the same parquet or TSV), the same ``metrics/split.json`` and plot data, and
the same one-line errors on bad input. The printed Spark SQL must select the same rows.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from common.errors import PipelineError
from common.params import DataParams, SplitParams, updated
from common.tables import read_table, read_whole
from prepare_data.report import SplitStats
from prepare_data.split import SPLITS, split_stream
from prepare_data.sql import split_query
from prepare_data.synthetic import generate_reviews, to_tsv
from tests.conftest import run_module

pytest.importorskip("pyspark", reason="the Spark engine's tests need the .[spark] extra (make test)")

from spark_engine.split import spark_session, spark_split

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
DATA = DataParams()
ROWS = 2000


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = spark_session("local[2]")
    yield session
    session.stop()


def generated(seed: int, rows: int = ROWS) -> pa.Table:
    """Every key type (string, int with negative values, bool, date), NULLs in each, duplicate
    and empty texts, labels mapped and not, and times with a zone offset."""
    rng = np.random.default_rng(seed)

    def with_nulls(values: list, share: float = 0.03) -> list:
        return [None if rng.random() < share else v for v in values]

    days = rng.integers(18_000, 19_000, rows)
    hours = rng.integers(0, 24, rows)
    stamps = [
        (datetime.datetime(2020, 1, 1) + datetime.timedelta(days=int(d) - 18_262, hours=int(h))).isoformat()
        + "+02:00"
        for d, h in zip(days, hours, strict=True)
    ]
    words = np.array(["good", "bad", "Dull", "fine", "é", "plot  twist", ""])
    return pa.table(
        {
            "id": pa.array(with_nulls(rng.integers(-(10**12), 10**12, rows).tolist()), pa.int64()),
            "name": pa.array(with_nulls([f"user{i}" for i in rng.integers(0, 300, rows)]), pa.string()),
            "flag": pa.array(with_nulls((rng.random(rows) < 0.5).tolist()), pa.bool_()),
            "day": pa.array(with_nulls(days.tolist()), pa.int32()).cast(pa.date32()),
            "stamp": pa.array(with_nulls(stamps), pa.string()),
            "Phrase": pa.array(
                with_nulls(
                    [f"{words[a]} {words[b]}" for a, b in rng.integers(0, len(words), (rows, 2))], 0.01
                )
            ),
            "Sentiment": pa.array(rng.integers(0, 5, rows), pa.int64()),
        }
    )


SPLITS_TO_TRY = {
    "string key": SplitParams(key=("name",)),
    "int, bool and date cross, sampled": SplitParams(key=("id", "flag", "day"), sample=3),
    "whole row": SplitParams(key=()),
    "unassigned buckets": SplitParams(key=("name",), train=(0, 6), valid=(7, 8), test=(8, 10)),
    "sequential by date": SplitParams(
        method="sequential", key=(), time_column="day", train=(1, 21), valid=(21, 26), test=(26, 32)
    ),
    "sequential by zoned hour": SplitParams(
        method="sequential",
        key=(),
        time_column="stamp",
        time_part="hour",
        train=(0, 16),
        valid=(16, 20),
        test=(20, 24),
    ),
}


def local_split(raw: Path, data: DataParams, split: SplitParams, out: Path) -> tuple[dict, dict, dict]:
    """The local engine on ``raw``: each split's file bytes, the report and the plot data."""
    out.mkdir()
    sinks = {name: out / f"{name}.parquet" for name in SPLITS}
    stats = SplitStats(split)
    report = read_whole(
        raw, lambda schema, batches: split_stream(schema, batches, data, split, sinks, str(raw), stats=stats)
    )
    return {n: p.read_bytes() for n, p in sinks.items()}, report, stats.plot_data()


def on_spark(
    spark: object, raw: Path, data: DataParams, split: SplitParams, out: Path
) -> tuple[dict, dict, dict]:
    out.mkdir()
    sinks = {name: out / f"{name}.parquet" for name in SPLITS}
    report, plots = spark_split(raw, data, split, sinks, session=spark)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # the scratch files are gone
    return {n: p.read_bytes() for n, p in sinks.items()}, report, plots


@pytest.mark.parametrize("case", list(SPLITS_TO_TRY))
def test_spark_engine_gives_the_local_files_report_and_plots(
    spark: object, tmp_path: Path, case: str
) -> None:
    raw = tmp_path / "reviews.parquet"
    pq.write_table(generated(seed=len(case)), raw)
    split = SPLITS_TO_TRY[case]
    files, report, plots = local_split(raw, DATA, split, tmp_path / "local")
    assert all(report["rows"].values()), report["rows"]  # every split has rows: a real comparison
    assert report["dropped"]["null_key"] > 0 or not split.key
    assert report["dropped"]["null_text"] > 0
    spark_files, spark_report, spark_plots = on_spark(spark, raw, DATA, split, tmp_path / "spark")
    assert spark_report == report
    assert spark_plots == plots
    for name in SPLITS:
        assert spark_files[name] == files[name], name


def test_spark_engine_reads_the_default_tsv_with_its_own_reader(
    spark: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "reviews.tsv"
    raw.write_bytes(to_tsv(generate_reviews(6000, seed=7)))
    files, report, plots = local_split(raw, DATA, SplitParams(), tmp_path / "local")
    assert on_spark(spark, raw, DATA, SplitParams(), tmp_path / "spark") == (files, report, plots)
    # A cluster's scratch folder for the sorted rows, as a URI (here a file:// one): the same files.
    scratch = tmp_path / "shared"
    scratch.mkdir()
    monkeypatch.setenv("SPARK_SPLIT_SCRATCH", scratch.as_uri())
    assert on_spark(spark, raw, DATA, SplitParams(), tmp_path / "spark2") == (files, report, plots)
    assert list(scratch.iterdir()) == []


BAD_INPUTS = {
    "missing key column": (SplitParams(key=("MovieId",)), DATA),
    "float key": (SplitParams(key=("score",)), DATA),
    "label that does not fit the column": (
        SplitParams(),
        updated(DATA, negative_labels=("neg",)),
    ),
    "no label mapped": (SplitParams(), updated(DATA, negative_labels=(7,), positive_labels=(8,))),
    "key NULL in every row": (SplitParams(key=("empty",)), DATA),
    "no text": (SplitParams(), updated(DATA, text_column="blank")),
    "bad time": (SplitParams(method="sequential", key=(), time_column="when", time_part="hour"), DATA),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_the_local_engines_one_line_error(spark: object, tmp_path: Path, case: str) -> None:
    split, data = BAD_INPUTS[case]
    raw = tmp_path / "reviews.parquet"
    pq.write_table(
        pa.table(
            {
                "SentenceId": [1, 2, 3, 4],
                "score": [0.5, 1.5, 2.5, 3.5],
                "empty": pa.array([None] * 4, pa.string()),
                "blank": ["", "", None, ""],
                "when": ["2024-01-01 10:00", "2024-01-02 11:00", "yesterday", "2024-01-03 12:00"],
                "Phrase": ["a", "b", "c", "d"],
                "Sentiment": [0, 4, 0, 4],
            }
        ),
        raw,
    )
    with pytest.raises(PipelineError) as local_error:
        local_split(raw, data, split, tmp_path / "local")
    with pytest.raises(PipelineError) as spark_error:
        on_spark(spark, raw, data, split, tmp_path / "spark")
    assert str(spark_error.value) == str(local_error.value)
    assert "\n" not in str(spark_error.value) and str(raw) in str(spark_error.value)


SQL_SPLITS = {
    name: SPLITS_TO_TRY[name] for name in ("int, bool and date cross, sampled", "unassigned buckets")
}
SQL_SPLITS["sequential by day of week"] = SplitParams(
    method="sequential",
    key=(),
    time_column="day",
    time_part="day_of_week",
    train=(1, 6),
    valid=(6, 7),
    test=(7, 8),
)


@pytest.mark.parametrize("case", list(SQL_SPLITS))
def test_printed_spark_sql_selects_the_local_engines_rows(spark: object, tmp_path: Path, case: str) -> None:
    raw = tmp_path / "reviews.parquet"
    table = generated(seed=3)
    pq.write_table(table, raw)
    split = SQL_SPLITS[case]
    files, _, _ = local_split(raw, DATA, split, tmp_path / "local")
    spark.read.parquet(str(raw)).createOrReplaceTempView("reviews")  # type: ignore[attr-defined]
    query = split_query(
        DATA, split, "spark", table.column_names, table.schema.field("Sentiment").type, "reviews"
    )
    selected = spark.sql(query).toArrow()  # type: ignore[attr-defined]
    for name in SPLITS:
        expected = pq.read_table(pa.BufferReader(files[name])).to_pylist()
        rows = [r for r in selected.to_pylist() if r.pop("split") == name]
        assert len(rows) == len(expected) > 0
        key = repr
        assert sorted(map(key, rows)) == sorted(map(key, expected)), name


def test_bigquery_text_spells_the_article_formulas() -> None:
    split = SplitParams(key=("id", "flag"), sample=50, modulus=10, train=(0, 8), valid=(8, 9), test=(9, 10))
    query = split_query(DATA, split, "bigquery", ["id", "flag", "Phrase", "Sentiment"], pa.int64())
    fp = "FARM_FINGERPRINT(CONCAT(CAST(`id` AS STRING), CAST(`flag` AS STRING))) AS __fp"
    assert fp in query
    assert "CASE WHEN ABS(MOD(__fp, 50)) = 0 THEN DIV(ABS(MOD(__fp, 500)), 50) ELSE -1 END" in query
    assert "WHEN `Sentiment` IN (0) THEN 0 WHEN `Sentiment` IN (4) THEN 1" in query
    assert "THEN 'valid'" in query and "pmod" not in query.lower()
    string_labels = split_query(
        DATA, SplitParams(), "bigquery", ["SentenceId", "Phrase", "Sentiment"], pa.string()
    )
    assert "`Sentiment` IN ('0')" in string_labels


def test_sql_and_spark_read_the_same_csv_file(spark: object, tmp_path: Path) -> None:
    """The local reader and Spark's agree on the default data's TSV columns (int64, string)."""
    raw = tmp_path / "reviews.tsv"
    raw.write_bytes(to_tsv(generate_reviews(300, seed=1)))
    local = read_table(raw)
    from spark_engine.split import read_raw

    frame, schema = read_raw(spark, raw, SplitParams())  # type: ignore[arg-type]
    assert schema == local.schema
    assert frame.count() == local.num_rows


@pytest.mark.integration
def test_dvc_repro_with_the_spark_engine_reproduces_the_local_engines_lock(repo_factory) -> None:
    repo = repo_factory(synthetic_rows=3000)
    repo.dvc("repro", "prepare_data")
    local = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]["prepare_data"]["outs"]
    repo.set_params(split={"engine": "spark", "spark_master": "local[2]"})
    ran = repo.dvc("repro", "prepare_data")
    assert "spark engine on local[2]" in ran.stdout + ran.stderr
    spark = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]["prepare_data"]["outs"]
    assert spark == local  # data/prepared, split.json and the plot data: the same bytes
    assert "up to date" in repo.dvc("status", "prepare_data").stdout
    printed = run_module("prepare_data.sql", repo.path, check=True).stdout
    assert printed.count("FARM_FINGERPRINT(CAST(`SentenceId` AS STRING))") == 1
    assert printed.count("farm_fingerprint(CAST(`SentenceId` AS STRING))") == 1
