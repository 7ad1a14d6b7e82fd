"""prepare_data stage: labels, split and split report from ``data/raw/``, streamed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa

from common.atomic import atomic_outputs, dumps_json
from common.params import DataParams, SplitParams, load_params
from common.prepared import PREPARED_DIR
from common.stage import run_stage
from common.tables import find_raw_file, read_whole
from prepare_data.report import SplitReport, SplitStats, require_both_labels, summary
from prepare_data.split import SPLITS, split_stream
from prepare_data.split_plots import PLOT_FILES
from prepare_data.stream import reuse_freed_memory

SPLIT_METRICS = Path("metrics/split.json")
log = logging.getLogger(__name__)


PlotData = dict[Path, list[dict[str, float | int]]]
SplitEngine = Callable[[Path, DataParams, SplitParams, dict[str, Path]], tuple[SplitReport, PlotData]]


def split_locally(
    raw: Path, data: DataParams, split: SplitParams, sinks: dict[str, Path]
) -> tuple[SplitReport, PlotData]:
    """The local engine: ``raw`` streamed through the split in this process."""

    def split_file(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[SplitReport, PlotData]:
        # Counted afresh on each pass: read_whole reads a file again when a late value widens
        # a column's type, and the report must count each row once.
        stats = SplitStats(split)
        report = split_stream(schema, batches, data, split, sinks, str(raw), stats=stats)
        return report, stats.plot_data()  # the label's and the text length's CDF per split

    return read_whole(raw, split_file)


def split_engine(name: str) -> SplitEngine:
    """The engine ``split.engine`` names. An optional engine is a folder of its own, imported
    only when chosen; each one's lines here are marked, for removing it (tests/test_optional_parts.py)."""
    engine: SplitEngine = split_locally
    if name == "spark":  # optional part: spark_engine
        from spark_engine.split import spark_split as engine  # optional part: spark_engine
    return engine


def main() -> None:
    reuse_freed_memory()
    params = load_params()
    raw = find_raw_file()
    # data/prepared is replaced as a whole folder: its temp is beside it, not inside it (a
    # DVC output folder), and the splits, report and plot data are replaced as one set.
    with atomic_outputs(SPLIT_METRICS, *PLOT_FILES, dirs=(PREPARED_DIR,)) as temps:
        metrics_temp, *plot_temps, prepared_temp = temps
        sinks = {name: prepared_temp / f"{name}.parquet" for name in SPLITS}
        report, plot_data = split_engine(params.split.engine)(raw, params.data, params.split, sinks)
        require_both_labels(report, str(raw))
        metrics_temp.write_text(dumps_json(report))
        for path, temp in zip(PLOT_FILES, plot_temps, strict=True):
            temp.write_text(dumps_json(plot_data[path]))
    log.info("%s split of %s:\n%s", params.split.method, raw, summary(report))


if __name__ == "__main__":
    run_stage("prepare_data", main)
