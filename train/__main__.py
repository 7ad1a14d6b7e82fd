"""train stage: fit ``train.model`` on the train split, select on valid, save to ``model/``.

Always writes ``metrics/training_curves.json``, and leaves ``checkpoints/`` (a persisted DVC
output that the torch model fills while it trains) empty, whatever the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from common.atomic import write_json_atomic
from common.errors import run_stage
from common.params import TrainParams, as_dict, load_params
from common.prepared import PREPARED_DIR, read_split, require_both_classes
from train.curves import CURVES_FILE, sklearn_curves
from train.model_store import save_sklearn, save_torch
from train.sklearn_models import build_pipeline, fit_pipeline, positive_scores, score_threshold

CHECKPOINT_DIR = Path("checkpoints")
log = logging.getLogger(__name__)
Data = tuple[list[str], np.ndarray]


def train_sklearn(settings: TrainParams, train: Data, valid: Data) -> list[dict[str, float | int]]:
    pipeline = fit_pipeline(build_pipeline(settings), *train)
    predicted = positive_scores(pipeline, valid[0]) >= score_threshold(pipeline)
    valid_accuracy = float(np.mean(predicted == valid[1]))
    log.info("%s fitted on %d rows; valid accuracy %.4f", settings.model, len(train[0]), valid_accuracy)
    curves = sklearn_curves(pipeline, train, valid, valid_accuracy)
    meta = {
        "model": settings.model,
        # Only what this model used: an unrelated train.* change must not change model/.
        "params": {"seed": settings.seed, settings.model: as_dict(getattr(settings, settings.model))},
        "train_rows": len(train[0]),
        "valid_accuracy": round(valid_accuracy, 6),
    }
    save_sklearn(pipeline, meta)
    return curves


def train_torch(settings: TrainParams, train: Data, valid: Data) -> list[dict[str, float | int]]:
    # Imported here so that the scikit-learn models do not pay for importing torch.
    from train.torch_loop import state_dict_bytes, train_torch_model

    trained = train_torch_model(settings.torch, settings.seed, *train, *valid, CHECKPOINT_DIR)
    best = trained.curves[trained.best_virtual_epoch - 1]
    log.info(
        "torch: best virtual epoch %d, valid accuracy %.4f", best["virtual_epoch"], best["valid_accuracy"]
    )
    meta = {
        "model": "torch",
        "params": {"seed": settings.seed, "torch": as_dict(settings.torch)},
        "architecture": trained.architecture.to_json(),
        "device": trained.device,
        "train_rows": len(train[0]),
        "vocabulary_size": len(trained.vocabulary),
        "best_virtual_epoch": trained.best_virtual_epoch,
        "virtual_epochs_run": len(trained.curves),
        "examples_seen": trained.examples_seen,
        "valid_accuracy": best["valid_accuracy"],
        "valid_loss": best["valid_loss"],
    }
    save_torch(state_dict_bytes(trained.state), trained.vocabulary.to_json(), meta)
    return trained.curves


def main() -> None:
    params = load_params()
    text_column = params.data.text_column
    train = read_split("train", text_column)
    require_both_classes(str(PREPARED_DIR / "train.parquet"), train[1])
    valid = read_split("valid", text_column)
    CHECKPOINT_DIR.mkdir(exist_ok=True)
    trainer = train_torch if params.train.model == "torch" else train_sklearn
    curves = trainer(params.train, train, valid)
    write_json_atomic(CURVES_FILE, curves)
    # Resume state only matters to a killed run. A finished one leaves checkpoints/ empty, so
    # that dvc.lock records the same empty folder whatever the model and its history.
    for leftover in CHECKPOINT_DIR.iterdir():
        if leftover.is_file():
            leftover.unlink()


if __name__ == "__main__":
    run_stage("train", main)
