"""``python -m predict --input X --output Y --key ID [--key ...]``: keyed batch predictions.

Scores ``X`` (a local or ``s3://`` .csv, .tsv or .parquet file) with the model in ``model/``
(hash-checked before loading) and writes ``Y`` (parquet): the key columns, then ``score``,
``label`` and ``prediction``. docs/serving.md has the details.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.errors import PipelineError, run_stage
from common.params import PARAMS_FILE, load_params
from predict.keyed import predict_file
from train.model_store import MODEL_DIR, load_scorer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m predict", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="table to score: a path or s3://bucket/key")
    parser.add_argument("--output", required=True, type=Path, help="parquet file to write")
    parser.add_argument(
        "--key", action="append", required=True, help="key column passed through (repeat for several)"
    )
    parser.add_argument("--text-column", help="column with the text (default: data.text_column)")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="model folder (default: model)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    text_column = args.text_column
    if text_column is None:
        text_column = load_params().data.text_column if Path(PARAMS_FILE).is_file() else "Phrase"
    if args.output.suffix != ".parquet":
        raise PipelineError(f"--output: {args.output}: must be a .parquet file")
    scorer = load_scorer(args.model)
    predict_file(args.input, args.output, args.key, text_column, scorer)


if __name__ == "__main__":
    run_stage("predict", main)
