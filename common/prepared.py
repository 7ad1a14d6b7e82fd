"""Reading the prepared splits as (texts, labels), with checks that name file and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.atomic import check_complete
from common.errors import PipelineError

RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")


def read_split(
    name: str, text_column: str, prepared_dir: Path = PREPARED_DIR
) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels of one split; errors on a missing file, column, nulls or no rows."""
    path = prepared_dir / f"{name}.parquet"
    check_complete(path)
    if not path.is_file():
        raise PipelineError(f"{path}: not found (run prepare_data first)")
    table = pq.read_table(path)
    for column, key in [(text_column, "data.text_column"), ("label", None)]:
        if column not in table.column_names:
            what = f" ({key})" if key else ""
            raise PipelineError(f"{path}: column {column!r}{what} not found")
    if table.num_rows == 0:
        raise PipelineError(f"{path}: has no rows")
    text = table[text_column]
    if text.null_count:
        row = pc.index(pc.is_null(text), True).as_py()
        raise PipelineError(
            f"{path}: column {text_column!r} is null in row {row} ({text.null_count} null rows)"
        )
    return text.to_pylist(), table["label"].to_numpy().astype(np.int8)


def require_both_classes(path: str, labels: np.ndarray) -> None:
    classes = np.unique(labels)
    if len(classes) < 2:
        raise PipelineError(
            f"{path}: column 'label' has a single class ({int(classes[0])}); need both 0 and 1"
        )
