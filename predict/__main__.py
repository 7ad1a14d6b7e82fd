"""``python -m predict [--input X --output Y --key ID ...]``: keyed batch predictions.

Scores ``X`` (a local or ``s3://`` .csv, .tsv or .parquet file) with the model in ``model/``
(checked against its manifest and dvc.lock before loading) and writes ``Y`` (parquet): the key
columns, then ``score``, ``label`` and ``prediction``; with no key columns (``predict.key: []``,
the default), ``row``, the row's number in ``X``, is the key. Without ``--input`` and
``--output`` it is the DVC stage
``predict``: the test split, keyed by ``predict.key``, into ``data/predictions/test.parquet``.
docs/serving.md has the details.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.errors import PipelineError
from common.params import PARAMS_FILE, Params, load_params
from common.prepared import PREPARED_DIR
from common.stage import StageArgumentParser, run_stage
from predict.keyed import predict_file
from train.model_store import MODEL_DIR, UNLOCKED_FLAG, UNLOCKED_HELP

STAGE_OUTPUT = Path("data/predictions/test.parquet")


def local_output(value: str) -> Path:
    """``--output``: a local path. A URL is refused without echoing it (it may hold a secret):
    ``Path`` would turn ``s3://b/k`` into the local folder ``s3:/b/k``."""
    if "://" in value:
        raise PipelineError(
            "--output: a URL is not supported: predictions are written to a local .parquet file (copy it "
            "to s3:// afterwards, e.g. with `aws s3 cp`)"
        )
    return Path(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = StageArgumentParser(prog="python -m predict", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="table to score: a path or s3://bucket/key (default: the test split)")
    parser.add_argument("--output", help=f"parquet file to write (default: {STAGE_OUTPUT})")
    parser.add_argument(
        "--key",
        action="append",
        help="key column passed through; repeat for several (default: predict.key; none: a row number)",
    )
    parser.add_argument("--text-column", help="column with the text (default: data.text_column)")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="model folder (default: model)")
    parser.add_argument(UNLOCKED_FLAG, action="store_true", help=UNLOCKED_HELP)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="scoring processes (default 1: this process); more help only with idle cores",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if (args.input is None) != (args.output is None):
        raise PipelineError("--input and --output go together (neither: the predict stage's test split)")
    params = load_params() if args.input is None or Path(PARAMS_FILE).is_file() else Params()
    if args.input is not None and "://" in args.input and not args.input.startswith("s3://"):
        raise PipelineError(
            "--input: only a local path or an s3:// URL is read (the URL is not shown: it may hold a secret)"
        )
    source = args.input or str(PREPARED_DIR / "test.parquet")
    output = STAGE_OUTPUT if args.output is None else local_output(args.output)
    if output.suffix != ".parquet":
        raise PipelineError(f"--output: {output}: must be a .parquet file")
    if not source.startswith("s3://") and output.resolve() == Path(source).resolve():
        raise PipelineError(f"--output: {output} is the --input file; predictions would replace it")
    model_dir = args.model.resolve()
    if model_dir == output.resolve().parent or model_dir in output.resolve().parents:
        raise PipelineError(
            f"--output: {output} lies in the model folder {args.model}; a file there breaks every later load"
        )
    if args.workers < 1:
        raise PipelineError(f"--workers: must be at least 1, got {args.workers}")
    keys = args.key or list(params.predict.key)
    settings = (
        "--key" if args.key else "predict.key",
        "--text-column" if args.text_column else "data.text_column",
    )
    text_column = args.text_column or params.data.text_column
    predict_file(
        source, output, keys, text_column, args.model, args.workers, settings, unlocked=args.unlocked_model
    )


if __name__ == "__main__":
    run_stage("predict", main)
