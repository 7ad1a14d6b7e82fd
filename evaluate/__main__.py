"""evaluate stage: score ``model/`` on the test split; write metrics and plot data.

``python -m evaluate [--unlocked-model]``: ``model/`` must be the folder ``dvc.lock`` records
(as it is under ``dvc repro``), unless ``--unlocked-model`` says it was trained here by
``python -m train`` and is not locked yet (train/model_store.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from common.atomic import atomic_outputs, check_complete, dumps_json
from common.params import load_params
from common.prepared import PREPARED_DIR, read_split, require_both_classes
from common.stage import StageArgumentParser, run_stage
from evaluate.metrics import classification_metrics, confusion_rows, precision_recall_points, roc_points
from train.model_store import MODEL_DIR, UNLOCKED_FLAG, UNLOCKED_HELP, load_scorer

METRICS_FILE = Path("metrics/model_performance.json")
PLOTS_DIR = Path("metrics/plots")
log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = StageArgumentParser(prog="python -m evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(UNLOCKED_FLAG, action="store_true", help=UNLOCKED_HELP)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = load_params()
    texts, labels = read_split("test", params.data.text_column)
    require_both_classes(str(PREPARED_DIR / "test.parquet"), labels)
    check_complete(MODEL_DIR)
    scorer = load_scorer(MODEL_DIR, unlocked=args.unlocked_model)
    scores, predicted = scorer.predict(texts)
    metrics = classification_metrics(labels, predicted, scores)
    plots = {
        "confusion.json": confusion_rows(labels, predicted),
        "roc.json": roc_points(labels, scores),
        "precision_recall.json": precision_recall_points(labels, scores),
    }
    with atomic_outputs(METRICS_FILE, dirs=(PLOTS_DIR,)) as (metrics_temp, plots_temp):
        metrics_temp.write_text(dumps_json(metrics, sort_keys=False))
        for name, rows in plots.items():
            (plots_temp / name).write_text(dumps_json(rows))
    log.info("%s on %d test rows: %s", scorer.meta.get("model"), len(texts), metrics)


if __name__ == "__main__":
    run_stage("evaluate", main)
