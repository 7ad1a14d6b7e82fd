"""train stage: fit ``train.model`` on the train split, report valid accuracy, save to ``model/``."""

from __future__ import annotations

import logging

import numpy as np

from common.errors import run_stage
from common.params import as_dict, load_params
from common.prepared import PREPARED_DIR, read_split, require_both_classes
from train.model_store import save_sklearn
from train.sklearn_models import build_pipeline, fit_pipeline, positive_scores, score_threshold

log = logging.getLogger(__name__)


def main() -> None:
    params = load_params()
    text_column = params.data.text_column
    train_texts, train_labels = read_split("train", text_column)
    require_both_classes(str(PREPARED_DIR / "train.parquet"), train_labels)
    valid_texts, valid_labels = read_split("valid", text_column)
    settings = params.train
    pipeline = fit_pipeline(build_pipeline(settings), train_texts, train_labels)
    predicted = positive_scores(pipeline, valid_texts) >= score_threshold(pipeline)
    valid_accuracy = float(np.mean(predicted == valid_labels))
    log.info("%s fitted on %d rows; valid accuracy %.4f", settings.model, len(train_texts), valid_accuracy)
    meta = {
        "model": settings.model,
        "params": as_dict(settings),
        "train_rows": len(train_texts),
        "valid_accuracy": round(valid_accuracy, 6),
    }
    save_sklearn(pipeline, meta)


if __name__ == "__main__":
    run_stage("train", main)
