"""check_params stage: validate the whole params.yaml before any other stage runs.

DVC deletes a stage's outputs before it runs the stage's command, so a stage that refuses a bad
param itself has already lost its outputs (git-tracked metrics included) by then. This stage
runs first (every other stage depends on its output), reads params.yaml the way every stage
does, and fails with the same one line, before DVC has touched any other stage's outputs. Its
output, ``data/params.checked``, holds a constant line: it changes no downstream stage's deps,
so a changed param re-runs only the stages that use it.

It also reads the header of a local ``data.source`` and refuses a param that names a column the
file does not have (``common.data_columns``): minutes before the stage that needs the column.
"""

from __future__ import annotations

from pathlib import Path

from common.atomic import write_bytes_atomic
from common.data_columns import check_data_columns, source_columns
from common.extras import check_extras
from common.params import load_params
from common.stage import run_stage

CHECKED = Path("data/params.checked")


def main() -> None:
    params = load_params()
    check_extras(params)
    columns = source_columns(params.data)
    if columns is not None:
        check_data_columns(columns, params, params.data.source)
    write_bytes_atomic(CHECKED, b"params.yaml is valid\n")


if __name__ == "__main__":
    run_stage("check_params", main)
