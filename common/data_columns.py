"""The columns that the params name, checked against the data's header before any stage runs.

``data.text_column``, ``data.label_column``, ``split.key`` (or ``split.time_column``) and
``predict.key`` each name columns of ``data.source``. check_params reads only the header of a
local source (cheap, whatever the file's size) and refuses a column that is not there, before
DVC deletes any stage's outputs; get_data checks the file it fetched or copied the same way
(an ``s3://`` source, or a file changed since params.yaml was). One line names the param and
lists the columns that exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import PipelineError
from common.params import DataParams, Params

# The columns of the embedded default data (prepare_data.synthetic): here, so that
# check_params checks params against them without importing a stage.
SYNTHETIC_COLUMNS = ("PhraseId", "SentenceId", "Phrase", "Sentiment")

if TYPE_CHECKING:  # check_params imports this module and must not load numpy (common/runtime.py)
    import pyarrow as pa


def needed_columns(params: Params) -> list[tuple[str, str]]:
    """(column, params key) of every column the stages will look for in the data."""
    data, split = params.data, params.split
    needed = [(data.text_column, "data.text_column"), (data.label_column, "data.label_column")]
    if split.method == "hash":
        needed += [(name, "split.key") for name in split.key]
    else:
        needed.append((split.time_column, "split.time_column"))
    needed += [(name, "predict.key") for name in params.predict.key]
    return needed


def check_data_columns(columns: Sequence[str], params: Params, source: str) -> None:
    """Fail naming the first param whose column ``columns`` (the header of ``source``) lacks."""
    for column, key in needed_columns(params):
        if column not in columns:
            raise PipelineError(
                f"params.yaml: {key}: column {column!r} is not in {source} (its columns: {', '.join(columns)})"
            )


def source_columns(data: DataParams) -> list[str] | None:
    """The header of ``data.source`` if it can be read here and now: the synthetic data's
    columns, or a local file's header; None for an ``s3://`` object or a missing file (get_data
    checks those once it has them, and reports a missing file)."""
    if data.source == "synthetic":
        return list(SYNTHETIC_COLUMNS)
    path = Path(data.source)
    if data.source.startswith("s3://") or not path.is_file():
        return None
    from common.tables import header_names

    return header_names(path)


def check_text_type(
    schema: pa.Schema, column: str, setting: str, source: str, dictionary_ok: bool = False
) -> None:
    """Fail naming ``setting`` (the param or flag) unless ``column`` of ``schema`` holds text
    (or only NULLs): the model's tokenizer takes strings, and bytes or numbers would fail deep
    inside it. A CSV column of digits is read as numbers, so it is refused here too.
    ``dictionary_ok``: a dictionary of strings (a pandas categorical) counts as text."""
    import pyarrow as pa

    kind = schema.field(column).type
    if dictionary_ok and pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        raise PipelineError(f"{source}: column {column!r} ({setting}) holds bytes, not UTF-8 text")
    if not (pa.types.is_null(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise PipelineError(f"{source}: column {column!r} ({setting}) has type {kind}; expected text")
