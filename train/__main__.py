"""train stage: fit ``train.model`` on the train split, select on valid, save to ``model/``.

Always writes ``metrics/training_curves.json`` and ``metrics/training_schedule.json``; while it
trains, DVCLive's ``metrics/training/metrics.json`` holds the latest virtual epoch's metrics
(train/live.py); and it
leaves in ``checkpoints/`` (a persisted DVC output that the torch model fills while it trains)
only the checkpoints that ``train.torch.keep_checkpoints`` and ``init_from`` keep: none by
default, whatever the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from common.atomic import write_json_atomic
from common.errors import run_stage
from common.params import TrainParams, as_dict, load_params
from common.prepared import PREPARED_DIR, read_split, require_both_classes
from train.curves import CURVES_FILE, SCHEDULE_FILE, schedule_rows, sklearn_curves
from train.live import close_live, log_latest, open_live
from train.model_store import save_sklearn, save_torch
from train.sklearn_models import build_pipeline, fit_pipeline, positive_scores, score_threshold

CHECKPOINT_DIR = Path("checkpoints")
log = logging.getLogger(__name__)
Data = tuple[list[str], np.ndarray]
Curves = list[dict[str, float | int]]
OnVirtualEpoch = Callable[[Curves], None]


def train_sklearn(
    settings: TrainParams, train: Data, valid: Data, on_virtual_epoch: OnVirtualEpoch
) -> tuple[Curves, tuple[str, ...]]:
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
    on_virtual_epoch(curves)  # its single step
    return curves, ()


def omit(values: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    return {key: value for key, value in values.items() if key not in names}


def train_torch(
    settings: TrainParams, train: Data, valid: Data, on_virtual_epoch: OnVirtualEpoch
) -> tuple[Curves, tuple[str, ...]]:
    """Train the torch model; return its curves and the checkpoint files the run keeps."""
    # Imported here so that the scikit-learn models do not pay for importing torch.
    from train.torch_loop import NOT_FINGERPRINTED, state_dict_bytes, train_torch_model

    trained = train_torch_model(
        settings.torch, settings.seed, *train, *valid, CHECKPOINT_DIR, on_virtual_epoch=on_virtual_epoch
    )
    best = next(row for row in trained.curves if row["virtual_epoch"] == trained.best_virtual_epoch)
    log.info(
        "torch: best virtual epoch %d, valid accuracy %.4f", best["virtual_epoch"], best["valid_accuracy"]
    )
    meta = {
        "model": "torch",
        # Not keep_checkpoints: which checkpoints are kept changes nothing in model/.
        "params": {"seed": settings.seed, "torch": omit(as_dict(settings.torch), NOT_FINGERPRINTED)},
        "architecture": trained.architecture.to_json(),
        "device": trained.device,
        "train_rows": len(train[0]),
        "vocabulary_size": len(trained.vocabulary),
        "best_virtual_epoch": trained.best_virtual_epoch,
        "started_after_virtual_epoch": trained.first_epoch,
        "virtual_epochs_run": len(trained.curves) - trained.first_epoch,
        "examples_seen": trained.examples_seen,
        "valid_accuracy": best["valid_accuracy"],
        "valid_loss": best["valid_loss"],
    }
    save_torch(state_dict_bytes(trained.state), trained.vocabulary.to_json(), meta)
    return trained.curves, trained.kept_checkpoints


def main() -> None:
    params = load_params()
    text_column = params.data.text_column
    train = read_split("train", text_column)
    require_both_classes(str(PREPARED_DIR / "train.parquet"), train[1])
    valid = read_split("valid", text_column)
    CHECKPOINT_DIR.mkdir(exist_ok=True)
    if params.train.model == "torch" and params.train.torch.processes > 1:
        from train.distributed import launch_if_asked  # imports torch: not for scikit-learn models

        if launch_if_asked(params.train.torch.processes, params.train.model):
            return  # N workers under torch.distributed.run did the stage (train/distributed.py)
    trainer = train_torch if params.train.model == "torch" else train_sklearn
    live = open_live()
    curves, kept = trainer(params.train, train, valid, partial(log_latest, live))
    write_json_atomic(CURVES_FILE, curves)
    write_json_atomic(SCHEDULE_FILE, schedule_rows(curves))
    # Resume state only matters to a killed run. A finished one leaves in checkpoints/ only
    # the checkpoints it keeps (none by default), so that dvc.lock records the same folder
    # whatever was trained there before.
    for leftover in CHECKPOINT_DIR.iterdir():
        if leftover.is_file() and leftover.name not in kept:
            leftover.unlink()
    close_live(live)


if __name__ == "__main__":
    run_stage("train", main)
