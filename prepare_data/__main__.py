"""prepare_data stage: labels, split and split report from ``data/raw/``, streamed."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from common.atomic import atomic_outputs, dumps_json
from common.errors import PipelineError, run_stage
from common.params import load_params
from common.prepared import PREPARED_DIR, RAW_DIR
from common.tables import SUPPORTED_SUFFIXES
from prepare_data.report import summary
from prepare_data.split import SPLITS, split_stream
from prepare_data.stream import open_batches, reuse_freed_memory

SPLIT_METRICS = Path("metrics/split.json")
log = logging.getLogger(__name__)


def find_raw_file(raw_dir: Path = RAW_DIR) -> Path:
    found = sorted(p for p in raw_dir.glob("reviews.*") if p.suffix in SUPPORTED_SUFFIXES)
    if not found:
        raise PipelineError(f"{raw_dir}: no reviews.tsv/.csv/.parquet (run get_data first)")
    return found[0]


def main() -> None:
    reuse_freed_memory()
    params = load_params()
    raw = find_raw_file()
    schema, batches = open_batches(raw)
    outputs = [PREPARED_DIR / f"{name}.parquet" for name in SPLITS]
    with contextlib.closing(batches), atomic_outputs(*outputs, SPLIT_METRICS) as temps:
        *parquet_temps, metrics_temp = temps
        sinks = dict(zip(SPLITS, parquet_temps, strict=True))
        report = split_stream(schema, batches, params.data, params.split, sinks, source=str(raw))
        metrics_temp.write_text(dumps_json(report))
    log.info("%s split of %s:\n%s", params.split.method, raw, summary(report))


if __name__ == "__main__":
    run_stage("prepare_data", main)
