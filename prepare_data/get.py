"""get_data stage: put the raw data set in ``data/raw/``.

``data.source: synthetic`` generates it; a local ``.tsv``/``.csv``/``.parquet`` path is
validated and copied byte for byte, so the DVC cache holds exactly what was used.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from common.atomic import atomic_outputs
from common.errors import PipelineError, run_stage
from common.params import DataParams, load_params
from common.tables import SUPPORTED_SUFFIXES, read_table
from prepare_data.synthetic import generate_reviews, to_tsv

RAW_DIR = Path("data/raw")
log = logging.getLogger(__name__)


def raw_file_name(source: str) -> str:
    """``reviews`` plus the source's suffix (``.tsv`` for synthetic data)."""
    if source == "synthetic":
        return "reviews.tsv"
    suffix = Path(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise PipelineError(
            f"params.yaml: data.source: {source!r} is not 'synthetic' or a .tsv, .csv or .parquet path"
        )
    return f"reviews{suffix}"


def get_data(params: DataParams, raw_dir: Path = RAW_DIR) -> Path:
    """Write the raw data set into ``raw_dir`` (replacing it atomically); return its file."""
    name = raw_file_name(params.source)
    if params.source.startswith("s3://"):
        raise PipelineError("params.yaml: data.source: s3:// sources are not supported yet")
    with atomic_outputs(dirs=(raw_dir,)) as (temp_dir,):
        if params.source == "synthetic":
            log.info("generating %d synthetic phrases (seed %d)", params.synthetic_rows, params.seed)
            (temp_dir / name).write_bytes(to_tsv(generate_reviews(params.synthetic_rows, params.seed)))
        else:
            source = Path(params.source)
            table = read_table(source)  # fail early, naming the file, if it is unreadable
            log.info("copying %s (%d rows, %d columns)", source, table.num_rows, table.num_columns)
            shutil.copyfile(source, temp_dir / name)
    return raw_dir / name


def main() -> None:
    params = load_params()
    path = get_data(params.data)
    log.info("wrote %s", path)


if __name__ == "__main__":
    run_stage("get_data", main)
