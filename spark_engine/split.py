"""``split.engine: spark``: the same split as a PySpark job, row for row (spark_engine/README.md).

Spark reads the raw file with its own reader, and does the per-row work and every aggregate of
the report on its executors:

- the label mapping, key, bucket and split are the Spark SQL expressions that
  ``python -m prepare_data.sql`` prints (``prepare_data.sql``); ``FARM_FINGERPRINT`` is the
  project's own implementation (``prepare_data.hashing``) in a vectorized (Arrow) pandas UDF;
- the row number in the input (``input order``, which the local engine keeps in each split) is
  the scan partition's offset plus the row's index in it, both from
  ``monotonically_increasing_id``: one file is scanned in partitions that follow its bytes;
- the report's figures (rows per split and label, the tags of distinct keys and texts, the text
  lengths) are ``GROUP BY``s over the same 64-bit hashes the local engine counts, so
  ``metrics/split.json`` and the plot data are the local engine's, to the byte.

The validation is the local engine's, applied to the Arrow form of Spark's schema (missing
column, key or text type, labels that do not fit the label column) and to the aggregates
(no mapped label, all keys NULL, no text), so bad input fails with the same one line.

The split files: Spark sorts the rows by (split, input row) into a scratch folder of part files,
and this process streams them in order into the local engine's parquet writer
(``prepare_data.stream.BackgroundWriters``): the same single ``{train,valid,test}.parquet``
files with the same row groups and encodings. On the default data (and any parquet input) the
files are byte-identical to the local engine's; differences for CSV inputs come from the two
readers' typing and are listed in spark_engine/README.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import typing
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd  # the pandas UDF's type hints name it: imported here, not in the function
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import PipelineError
from common.params import DataParams, SplitParams
from common.tables import check_input_file, input_format
from prepare_data.hashing import fingerprint_strings, mix64, row_json
from prepare_data.labels import LABEL
from prepare_data.report import (
    DROPPED,
    SPLITS,
    SplitReport,
    build_report,
    check_report,
    random_split,
    text_hashes,
)
from prepare_data.sequential import parse_times, time_positions
from prepare_data.split import check_columns, check_rows_left, output_schema
from prepare_data.split_plots import LABEL_CDF_FILE, TEXT_LENGTH_CDF_FILE, label_cdf_rows, length_cdf_rows
from prepare_data.sql import BUCKET, FP, bucket, key_string, label_case
from prepare_data.stream import ROW_GROUP_ROWS, BackgroundWriters

if typing.TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SPARK_MASTER_ENV = "SPARK_MASTER"
# A folder both the executors and this process reach, for the sorted rows (spark_engine/README.md).
SCRATCH_ENV = "SPARK_SPLIT_SCRATCH"
DEFAULT_MASTER = "local[*]"
# The engine's own columns; a raw column with one of these names is refused.
ROW, PID, MID, SPLIT, POSITIVE, KEY, TEXT_HASH, TEXT_LENGTH, TAG = (
    "__row",
    "__pid",
    "__mid",
    "__split",
    "__positive",
    "__key",
    "__text_hash",
    "__text_length",
    "__tag",
)
_ROW_BITS = 33  # monotonically_increasing_id: partition index << 33 | the row's index in it
_TAG_SHIFT = 6  # prepare_data.membership keeps a hash's top 58 bits: group by the same


def master_url(split: SplitParams) -> str | None:
    """``split.spark_master``, else ``$SPARK_MASTER``, else the master ``spark-submit`` gave
    (None: it is in the session's conf already), else ``local[*]``."""
    if split.spark_master or os.environ.get(SPARK_MASTER_ENV):
        return split.spark_master or os.environ[SPARK_MASTER_ENV]
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else DEFAULT_MASTER  # set by spark-submit


def spark_session(master: str | None) -> SparkSession:
    """A session on ``master`` whose Python workers run this interpreter, in UTC."""
    # Without it the workers run the system's python3, which lacks the project's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Known and checked here (spark_engine/tests/test_spark_split.py): the UDFs pass Arrow arrays, not pandas 3's types.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise PipelineError(
            "split.engine: spark needs pyspark (pip install -c requirements.lock '.[spark]') and Java 17"
        ) from None
    builder = SparkSession.builder if master is None else SparkSession.builder.master(master)
    builder = (
        builder.appName("prepare_data")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Timestamps as pyarrow reads them back (not INT96) in the sorted scratch files.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    try:
        session = builder.getOrCreate()
    except Exception as error:  # no Java, a master that does not answer: one line
        raise PipelineError(
            f"split.engine spark: cannot start Spark on {master or 'the spark-submit master'} ({_first_line(error)}); it needs Java 17"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    if not session.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark's 200 shuffle partitions are for a cluster: on one machine, two per core.
        parallelism = session.sparkContext.defaultParallelism
        session.conf.set("spark.sql.shuffle.partitions", str(max(2, 2 * parallelism)))
    register_udfs(session)
    return session


# --- UDFs: the project's own functions, applied to Arrow batches ---------------------------


def _fingerprints(keys: pa.Array) -> pa.Array:
    """FARM_FINGERPRINT (int64, NULL for a NULL key) of a string array."""
    if not pa.types.is_string(keys.type):
        keys = keys.cast(pa.string())
    fingerprints, is_null = fingerprint_strings(keys)
    return pa.array(fingerprints, pa.int64(), mask=is_null)


def register_udfs(session: SparkSession) -> None:
    """``farm_fingerprint(string) -> bigint`` (a vectorized pandas UDF) and
    ``row_json(struct) -> string`` (an Arrow UDF), for the engine and the printed Spark SQL."""
    session.udf.register("farm_fingerprint", farm_fingerprint_udf())
    session.udf.register("row_json", row_json_udf())


def farm_fingerprint_udf() -> typing.Any:
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("bigint")  # type: ignore[call-overload]
    def farm_fingerprint(keys: pd.Series) -> pd.Series:
        fingerprints = _fingerprints(pa.array(keys, pa.string(), from_pandas=True))
        return fingerprints.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    return farm_fingerprint


def row_json_udf() -> typing.Any:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf("string")  # type: ignore[call-overload]
    def row_json_of(rows: pa.Array) -> pa.Array:
        return row_json(pa.RecordBatch.from_struct_array(rows))

    return row_json_of


def _text_hash_udf() -> typing.Any:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf("bigint")  # type: ignore[call-overload]
    def text_hash(texts: pa.Array) -> pa.Array:
        hashes, valid = text_hashes(texts)
        return pa.array(hashes.view(np.int64), pa.int64(), mask=~valid)

    return text_hash


def _random_split_udf(seed: int, widths: list[int]) -> typing.Any:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf("int")  # type: ignore[call-overload]
    def random_index(ranks: pa.Array) -> pa.Array:
        return pa.array(random_split(ranks.to_numpy(), seed, widths).astype(np.int32))

    return random_index


_TIME_FIELDS = "position bigint, is_null boolean, key bigint, zoned int, bad boolean"


def _time_udf(split: SplitParams) -> typing.Any:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf(_TIME_FIELDS)  # type: ignore[call-overload]
    def time_fields(column: pa.Array) -> pa.Array:
        return time_fields_of(column, split.time_part)

    return time_fields


def time_fields_of(column: pa.Array, part: str) -> pa.StructArray:
    """The sequential split's position, null flag and time key of each value (as the local
    engine's ``TimeColumn``), whether the time had a zone offset (1) or not (0, -1 for NULL),
    and whether it did not parse: the driver checks kinds and bad values over the whole column."""
    n = len(column)
    zoned = np.full(n, -1, np.int32)
    bad = np.zeros(n, bool)
    try:
        times = parse_times(column, "", "")
        groups = [(np.arange(n), times)]
    except PipelineError:  # mixed kinds or a bad value: value by value
        groups, values = [], column.to_pylist()
        for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            pending = [i for i, v in enumerate(values) if v is not None and not bad[i] and zoned[i] < 0]
            parsed = [i for i in pending if _parses_as(values[i], target)]
            if parsed:
                groups.append((np.array(parsed), pa.array([values[i] for i in parsed]).cast(target)))
            zoned[parsed] = 0 if target.tz is None else 1
        bad = np.array([v is not None and zoned[i] < 0 for i, v in enumerate(values)], bool)
    positions, is_null, keys = np.full(n, -1, np.int64), np.ones(n, bool), np.zeros(n, np.int64)
    for rows, times in groups:
        p, null, k = time_positions(times, part)
        positions[rows], is_null[rows], keys[rows] = p, null, k
        if pa.types.is_timestamp(times.type):
            zoned[rows[~null]] = 0 if times.type.tz is None else 1
    keys = mix64(keys).view(np.int64)
    return pa.StructArray.from_arrays(
        [pa.array(positions), pa.array(is_null), pa.array(keys), pa.array(zoned), pa.array(bad)],
        names=["position", "is_null", "key", "zoned", "bad"],
    )


def _parses_as(value: str, kind: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


# --- reading ----------------------------------------------------------------------------


def read_raw(session: SparkSession, path: Path, split: SplitParams) -> tuple[DataFrame, pa.Schema]:
    """The raw file as Spark's reader gives it, and its schema as the local engine would type it
    (Spark's integers are int64 in pyarrow's CSV typing; a parquet file's own schema)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StringType, StructField, StructType

    check_input_file(path)
    fmt = input_format(path)
    if fmt.compression == "zstd":
        raise PipelineError(f"{path}: the Spark engine reads .gz and .bz2, not .zst (recompress it)")
    if fmt.kind == "parquet":
        frame = session.read.parquet(path.resolve().as_uri())
        return frame, pq.read_schema(path)
    options = {
        "header": True,
        "sep": "\t" if fmt.kind == "tsv" else ",",
        "quote": '"',
        "escape": '"',  # RFC 4180: a quote inside a quoted field is doubled
        "mode": "FAILFAST",
        "encoding": "UTF-8",
        "inferSchema": True,
    }
    uri = path.resolve().as_uri()  # not a relative path: on a cluster it would name HDFS's folder
    inferred = session.read.options(**options).csv(uri).schema
    if split.method == "sequential" and split.time_column in inferred.names:
        # Times are parsed as the local engine parses them (prepare_data.sequential), not by Spark.
        inferred = StructType(
            [StructField(f.name, StringType()) if f.name == split.time_column else f for f in inferred.fields]
        )
    frame = session.read.options(**{**options, "inferSchema": False}).schema(inferred).csv(uri)
    arrow = to_arrow_schema(inferred, timezone="UTC")
    widened = [
        pa.field(f.name, pa.int64()) if pa.types.is_integer(f.type) else f.with_nullable(True) for f in arrow
    ]
    return frame, pa.schema(widened)


# --- the job ----------------------------------------------------------------------------


def spark_split(
    raw: Path,
    data: DataParams,
    split: SplitParams,
    sinks: Mapping[str, Path | str],
    row_group_rows: int = ROW_GROUP_ROWS,
    session: SparkSession | None = None,
) -> tuple[SplitReport, dict[Path, list[dict[str, float | int]]]]:
    """Split ``raw`` on Spark into the parquet ``sinks``; return the report and the plot data."""
    own = session is None
    if session is None:
        master = master_url(split)
        log.info("spark engine on %s", master or "spark-submit's master")
        session = spark_session(master)
    else:
        register_udfs(session)
    try:
        return _run(session, raw, data, split, sinks, row_group_rows)
    except PipelineError:
        raise
    except Exception as error:  # Spark's own errors (a Java stack): one line
        raise PipelineError(f"{raw}: the Spark job failed: {_first_line(error)}") from None
    finally:
        if own:
            session.stop()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def _run(
    session: SparkSession,
    raw: Path,
    data: DataParams,
    split: SplitParams,
    sinks: Mapping[str, Path | str],
    row_group_rows: int,
) -> tuple[SplitReport, dict[Path, list[dict[str, float | int]]]]:
    from pyspark.sql import functions as F
    from pyspark.storagelevel import StorageLevel

    source = str(raw)
    frame, schema = read_raw(session, raw, split)
    own_names = {ROW, PID, MID, SPLIT, POSITIVE, KEY, TEXT_HASH, TEXT_LENGTH, TAG, FP, BUCKET}
    clash = sorted(own_names & set(schema.names))
    if clash:
        raise PipelineError(
            f"{source}: column {clash[0]!r} is a name the Spark engine uses itself; rename it"
        )
    check_columns(schema, data, split, source)
    columns = schema.names
    label_type = schema.field(data.label_column).type
    try:
        label = F.expr(label_case(data, label_type))  # the labels cast to the column's type, as locally
    except PipelineError as error:
        raise PipelineError(f"{source}: {error}") from None

    # Each row's number in the input: its scan partition's offset plus its index in it.
    frame = frame.withColumn(PID, F.spark_partition_id()).withColumn(MID, F.monotonically_increasing_id())
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    row = partition_offsets(frame) + F.col(MID) - F.expr(f"shiftleft(CAST({PID} AS BIGINT), {_ROW_BITS})")

    if split.method == "hash":
        key = F.expr(f"farm_fingerprint({key_string(split, 'spark', columns)})")
        assigned = frame.withColumn(FP, key).withColumn(BUCKET, F.expr(bucket(split, "spark")))
        null_key = F.col(FP).isNull()
        position = F.col(BUCKET)
        not_sampled = ~null_key & (position < 0)
        key_column = F.col(FP)
    else:
        times = _time_udf(split)(
            F.col(split.time_column).cast("string")
            if _is_text_time(schema, split)
            else F.col(split.time_column)
        )
        assigned = frame.withColumn(FP, times)
        null_key = F.col(f"{FP}.is_null")
        position = F.col(f"{FP}.position")
        not_sampled = F.lit(False)
        key_column = F.col(f"{FP}.key")
    split_index = F.lit(-1)
    for index, (lo, hi) in reversed(list(enumerate(split.ranges().values()))):
        split_index = F.when((position >= lo) & (position < hi), index).otherwise(split_index)
    text = F.col(data.text_column)
    mapped = label.isNotNull()
    usable = mapped & text.isNotNull()  # as locally, a row with no text lands in no split
    assigned = (
        assigned.withColumn(ROW, row)
        .withColumn(POSITIVE, label == 1)
        .withColumn(SPLIT, F.when(usable & ~null_key, split_index).otherwise(-1))
        .withColumn(KEY, key_column)
        .withColumn("__mapped", mapped)
        .withColumn("__null_text", mapped & text.isNull())
        .withColumn("__null_key", usable & null_key)
        .withColumn("__not_sampled", usable & not_sampled)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    frame.unpersist()
    totals = assigned.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((~F.col("__mapped")).cast("long")).alias("label_not_mapped"),
        F.sum(F.col("__null_text").cast("long")).alias("null_text"),
        F.sum(F.col("__null_key").cast("long")).alias("null_key"),
        F.sum(F.col("__not_sampled").cast("long")).alias("not_sampled"),
        F.sum(
            (
                F.col("__mapped")
                & ~F.col("__null_text")
                & ~F.col("__null_key")
                & ~F.col("__not_sampled")
                & (F.col(SPLIT) < 0)
            ).cast("long")
        ).alias("unassigned"),
        F.max(F.length(text)).alias("longest_text"),
    ).first()
    assert totals is not None  # an aggregate without groupBy has exactly one row
    rows_read = int(totals["rows"])
    dropped = {name: int(totals[name] or 0) for name in DROPPED}
    if split.method == "sequential":
        _check_times(assigned, split, source)
    if not totals["longest_text"]:
        raise PipelineError(
            f"{source}: column {data.text_column!r} (data.text_column) is empty or NULL in every row"
        )
    check_rows_left(dropped, rows_read, data, split, source)

    kept = assigned.filter(F.col(SPLIT) >= 0)
    report, plot_data = _report(kept, data, split, dropped)
    report["warnings"] = check_report(report, split, source)
    _write_splits(kept, schema, data, sinks, row_group_rows)
    assigned.unpersist()
    return report, plot_data


def partition_offsets(frame: DataFrame) -> typing.Any:
    """A column: how many rows of ``frame`` lie in the partitions before each row's (``PID``)."""
    from pyspark.sql import functions as F

    per_partition: dict[int, int] = dict(frame.groupBy(PID).count().collect())
    sizes = [per_partition.get(i, 0) for i in range(max(per_partition, default=-1) + 1)]
    offsets = np.cumsum([0, *sizes])[:-1].tolist() or [0]
    return F.element_at(F.array(*[F.lit(int(o)) for o in offsets]), F.col(PID) + 1)


def _is_text_time(schema: pa.Schema, split: SplitParams) -> bool:
    kind = schema.field(split.time_column).type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _check_times(assigned: DataFrame, split: SplitParams, source: str) -> None:
    """A time that does not parse, or times with and without a zone offset in one column: the
    local engine's errors, at the first row in input order."""
    from pyspark.sql import functions as F

    name = split.time_column
    bad = assigned.filter(F.col(f"{FP}.bad")).orderBy(ROW).select(ROW, F.col(name).cast("string")).first()
    if bad is not None:
        parse_times(pa.array([bad[1]]), name, source, first_row=int(bad[0]) + 1)  # raises its error
    kinds = (
        assigned.filter(F.col(f"{FP}.zoned") >= 0)
        .groupBy(f"{FP}.zoned")
        .agg(F.min(ROW).alias("first"))
        .collect()
    )
    if len(kinds) == 2:
        first_kind = min(kinds, key=lambda r: r["first"])
        other = max(kinds, key=lambda r: r["first"])
        zoned = other["zoned"] == 1
        raise PipelineError(
            f"{source}: column {name!r} (split.time_column) row {int(other['first']) + 1}: a time "
            f"{'with' if zoned else 'without'} a zone offset after times {'with' if first_kind['zoned'] == 1 else 'without'} "
            "one; use one kind in the whole column"
        )


def _report(
    kept: DataFrame, data: DataParams, split: SplitParams, dropped: dict[str, int]
) -> tuple[SplitReport, dict[Path, list[dict[str, float | int]]]]:
    """The report's figures, aggregated by Spark, and the report and plot data built from them
    by the local engine's functions."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # The random-split contrast numbers the kept rows in input order (prepare_data.report).
    narrow = kept.select(PID, MID, SPLIT, POSITIVE, KEY, data.text_column)
    widths = [hi - lo for lo, hi in split.ranges().values()]
    rank = partition_offsets(narrow) + F.row_number().over(Window.partitionBy(PID).orderBy(MID)) - 1
    tagged = narrow.withColumn("__random", _random_split_udf(split.seed, widths)(rank))
    tagged = tagged.withColumn(TAG, F.expr(f"shiftleft(1, {SPLIT}) | shiftleft(8, __random)")).drop(
        "__random"
    )
    tagged = tagged.withColumn(TEXT_HASH, _text_hash_udf()(F.col(data.text_column)))
    tagged = tagged.withColumn(TEXT_LENGTH, F.char_length(F.col(data.text_column))).drop(data.text_column)
    from pyspark.storagelevel import StorageLevel

    tagged = tagged.persist(StorageLevel.MEMORY_AND_DISK)
    label_counts = np.zeros((len(SPLITS), 2), np.int64)
    for row in tagged.groupBy(SPLIT, POSITIVE).count().collect():
        label_counts[row[SPLIT], int(row[POSITIVE])] = row["count"]

    def histogram(value: str) -> np.ndarray:
        counts = np.zeros(64, np.int64)
        grouped = (
            tagged.filter(F.col(value).isNotNull())
            .groupBy(F.shiftright(F.col(value), _TAG_SHIFT).alias("__value"))
            .agg(F.bit_or(TAG).alias(TAG))
            .groupBy(TAG)
            .count()
        )
        for row in grouped.collect():
            counts[row[TAG]] = row["count"]
        return counts

    key_tags, text_tags = histogram(KEY), histogram(TEXT_HASH)
    lengths = tagged.filter(F.col(TEXT_LENGTH).isNotNull()).groupBy(SPLIT, TEXT_LENGTH).count().collect()
    width = max((int(r[TEXT_LENGTH]) for r in lengths), default=-1) + 1
    length_counts = np.zeros((len(SPLITS), max(width, 1)), np.int64)
    for row in lengths:
        length_counts[row[SPLIT], row[TEXT_LENGTH]] = row["count"]
    tagged.unpersist()
    report = build_report(split, label_counts, key_tags, text_tags, dropped)
    plot_data = {
        LABEL_CDF_FILE: label_cdf_rows(label_counts, SPLITS),
        TEXT_LENGTH_CDF_FILE: length_cdf_rows(length_counts, SPLITS),
    }
    return report, plot_data


def _write_splits(
    kept: DataFrame, schema: pa.Schema, data: DataParams, sinks: Mapping[str, Path | str], row_group_rows: int
) -> None:
    """Spark sorts the kept rows by (split, input row) into part files in a scratch folder
    (beside the first sink, or under ``$SPARK_SPLIT_SCRATCH``); they are streamed in order
    into the local engine's writers, then deleted."""
    from pyspark.sql import functions as F

    out_schema = output_schema(schema)
    input_columns = [name for name in out_schema.names if name != LABEL]
    ordered = kept.select(
        *[F.col(name) for name in input_columns],
        F.col(POSITIVE).cast("tinyint").alias(LABEL),
        F.col(SPLIT).cast("tinyint").alias(SPLIT),
        F.col(ROW),
    ).orderBy(SPLIT, ROW)
    with scratch_folder(Path(next(iter(sinks.values()))).parent) as (spark_uri, filesystem, path):
        ordered.write.mode("overwrite").parquet(spark_uri)
        dictionary_columns = [name for name in (data.label_column, LABEL) if name in out_schema.names]
        writers = BackgroundWriters(
            dict(sinks), out_schema, row_group_rows, dictionary_columns, text_columns=[data.text_column]
        )
        try:
            for batch in _sorted_batches(filesystem, path):
                table = pa.Table.from_batches([batch])
                index = table.column(SPLIT).to_numpy()
                for value in np.unique(index):
                    part = table.filter(pa.array(index == value)).select(out_schema.names).cast(out_schema)
                    writers.write(SPLITS[int(value)], part)
        except BaseException:
            writers.abort()
            raise
        writers.close()


@contextlib.contextmanager
def scratch_folder(beside: Path) -> Iterator[tuple[str, typing.Any, str]]:
    """A fresh folder for Spark's sorted part files: (its URI for Spark, a pyarrow filesystem
    and path to read it back), deleted afterwards. On one machine a temp folder beside the
    outputs; on a cluster, where executors cannot write to the driver's disk,
    ``$SPARK_SPLIT_SCRATCH``: a URI both reach (``hdfs://...``, ``s3a://bucket/tmp``, a shared
    ``file:///`` mount). ``s3a://`` is read back as ``s3://`` by pyarrow."""
    import uuid

    from pyarrow import fs

    base = os.environ.get(SCRATCH_ENV)
    if not base:
        folder = Path(tempfile.mkdtemp(prefix=".spark-split-", dir=beside))
        try:
            yield str(folder / "rows"), fs.LocalFileSystem(), str(folder / "rows")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    uri = f"{base.rstrip('/')}/prepare_data-{uuid.uuid4().hex}"
    filesystem, path = fs.FileSystem.from_uri(
        "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri
    )
    try:
        yield uri, filesystem, path
    finally:
        with contextlib.suppress(OSError):
            filesystem.delete_dir(path)


def _sorted_batches(filesystem: typing.Any, folder: str) -> Iterator[pa.RecordBatch]:
    """The record batches of Spark's part files in the order of their partitions (file names)."""
    from pyarrow import fs

    found = filesystem.get_file_info(fs.FileSelector(folder))
    for path in sorted(info.path for info in found if info.base_name.startswith("part-")):
        with filesystem.open_input_file(path) as handle, contextlib.closing(pq.ParquetFile(handle)) as file:
            yield from file.iter_batches(batch_size=1 << 16)
