"""get_data stage: put the raw data set in ``data/raw/``.

``data.source: synthetic`` generates it; a local ``.tsv``/``.csv``/``.parquet`` path is
validated and copied byte for byte, so the DVC cache holds exactly what was used; an
``s3://bucket/key`` object is downloaded (``common.s3_source``), checked and validated
the same way. For an s3:// source, ``data.source_dep`` must be the same URL: dvc.yaml makes it
a dependency of this stage, so DVC re-runs it when the object's ETag changes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from common import s3_source
from common.atomic import atomic_outputs
from common.data_columns import check_data_columns
from common.errors import PipelineError
from common.params import DataParams, Params, check_data_source, load_params
from common.prepared import RAW_DIR
from common.stage import run_stage
from common.tables import read_whole, table_suffix
from prepare_data.synthetic import generate_reviews, to_tsv

log = logging.getLogger(__name__)


def raw_file_name(source: str) -> str:
    """``reviews`` plus the source's suffix (``.tsv`` for synthetic data)."""
    if source == "synthetic":
        return "reviews.tsv"
    suffix = table_suffix(source)
    if suffix is None:
        raise PipelineError(
            f"params.yaml: data.source: {source!r} is not 'synthetic' or a .tsv, .csv or .parquet path"
            " (.tsv and .csv may end in .gz, .zst or .bz2) or s3:// URL"
        )
    return f"reviews{suffix}"


def check_source_dep(params: DataParams) -> None:
    """``data.source`` within ``data.source_dep``, with no credentials in it
    (``common.params.check_data_source``, which every params read also runs)."""
    check_data_source(params.source, params.source_dep, "params.yaml: data")


def validate_table(path: Path, params: Params | None = None) -> tuple[int, int]:
    """(rows, columns) of the table at ``path``, read in full by the reader prepare_data uses
    (same types, same errors): a file get_data accepts is one prepare_data can read. With
    ``params``, a param naming a column the file lacks fails first, from the header."""

    def count(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[int, int]:
        if params is not None:
            check_data_columns(schema.names, params, str(path))
        return sum(batch.num_rows for batch in batches), len(schema)

    return read_whole(path, count)


def fetch_s3(url: str, dest: Path, params: Params | None = None) -> None:
    """Download ``url`` into ``dest`` and validate it as a table; errors name the URL."""
    s3_source.download(url, dest)
    try:
        rows, columns = validate_table(dest, params)
    except PipelineError as error:
        raise PipelineError(str(error).replace(str(dest), s3_source.redact(url))) from None
    log.info("fetched %s (%d rows, %d columns)", s3_source.redact(url), rows, columns)


def get_data(params: DataParams, raw_dir: Path = RAW_DIR, needs: Params | None = None) -> Path:
    """Write the raw data set into ``raw_dir`` (replacing it atomically); return its file.
    With ``needs`` (all the params), a param naming a column the data lacks is refused."""
    name = raw_file_name(params.source)
    check_source_dep(params)
    with atomic_outputs(dirs=(raw_dir,)) as (temp_dir,):
        if s3_source.is_s3_url(params.source):
            fetch_s3(params.source, temp_dir / name, needs)
        elif params.source == "synthetic":
            log.info("generating %d synthetic phrases (seed %d)", params.synthetic_rows, params.seed)
            (temp_dir / name).write_bytes(to_tsv(generate_reviews(params.synthetic_rows, params.seed)))
        else:
            source = Path(params.source)
            rows, columns = validate_table(source, needs)  # fail early, naming the file and row
            log.info("copying %s (%d rows, %d columns)", source, rows, columns)
            shutil.copyfile(source, temp_dir / name)
    return raw_dir / name


def main() -> None:
    params = load_params()
    path = get_data(params.data, needs=params)
    log.info("wrote %s", path)


if __name__ == "__main__":
    run_stage("get_data", main)
