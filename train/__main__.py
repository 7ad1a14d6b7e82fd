"""train stage: fit ``train.model`` on the train split, select on valid, save to ``model/``.

Always writes ``metrics/training_curves.json`` and ``metrics/training_schedule.json``; while it
trains, DVCLive's ``metrics/training/metrics.json`` holds the latest virtual epoch's metrics
(train/live.py); and it
leaves in ``checkpoints/`` (a persisted DVC output that the torch model fills while it trains)
only the checkpoints that ``train.torch.keep_checkpoints`` and ``init_from`` keep: none by
default, whatever the model. ``checkpoints/kept.json`` lists them (``[]`` for a scikit-learn
model): the folder is never empty, which DVC would warn about on every run.
"""

from __future__ import annotations

import os
from functools import partial

from common.atomic import atomic_outputs, dumps_json, write_bytes_atomic, write_json_atomic
from common.params import load_params
from common.prepared import PREPARED_DIR, read_split, require_both_classes
from common.stage import run_stage
from train.curves import CURVES_FILE, SCHEDULE_FILE, schedule_rows
from train.live import LIVE_METRICS, close_live, log_latest, open_live
from train.model_entry import CHECKPOINT_DIR
from train.model_store import MODEL_DIR, fill_model_dir
from train.registry import MODELS, check_registry

KEPT_FILE = CHECKPOINT_DIR / "kept.json"


def main() -> None:
    params = load_params()
    check_registry()
    text_column = params.data.text_column
    train = read_split("train", text_column)
    require_both_classes(str(PREPARED_DIR / "train.parquet"), train[1])
    valid = read_split("valid", text_column)
    CHECKPOINT_DIR.mkdir(exist_ok=True)
    model = MODELS[params.train.model]  # train/registry.py
    if model.launch is not None and model.launch(params.train):
        return  # e.g. N torch workers under torch.distributed.run did the stage
    if int(os.environ.get("RANK", "0")) > 0:
        # A torch.distributed.run worker beside rank 0 (torch_model/distributed.py): it trains, and
        # touches no output, not even a stale temp path, which may be rank 0's own new one.
        model.train(params.train, train, valid, lambda curves: None)
        return
    # Every output of the stage (dvc.yaml's train outs but the persisted checkpoints/) is
    # replaced as one unit. DVCLive rewrites its metrics file in place after each virtual epoch
    # (for `dvc exp show`), so the set is marked incomplete from the start (a SIGKILL leaves it
    # marked); a failed or interrupted run puts the previous metrics file back.
    previous_live = LIVE_METRICS.read_bytes() if LIVE_METRICS.is_file() else None
    try:
        with atomic_outputs(CURVES_FILE, SCHEDULE_FILE, LIVE_METRICS, dirs=(MODEL_DIR,), marked=True) as (
            curves_temp,
            schedule_temp,
            live_temp,
            model_temp,
        ):
            live = open_live()
            curves, kept, files = model.train(params.train, train, valid, partial(log_latest, live))
            close_live(live)
            fill_model_dir(files, model_temp)
            curves_temp.write_text(dumps_json(curves))
            schedule_temp.write_text(dumps_json(schedule_rows(curves)))
            live_temp.write_bytes(LIVE_METRICS.read_bytes())
    except BaseException:
        if previous_live is not None:
            write_bytes_atomic(LIVE_METRICS, previous_live)
        raise
    # Resume state only matters to a killed run. A finished one leaves in checkpoints/ only
    # the checkpoints it keeps (none by default), so that dvc.lock records the same folder
    # whatever was trained there before.
    for leftover in CHECKPOINT_DIR.iterdir():
        if leftover.is_file() and leftover.name not in kept and leftover != KEPT_FILE:
            leftover.unlink()
    write_json_atomic(KEPT_FILE, {"kept": list(kept)})


if __name__ == "__main__":
    run_stage("train", main)
