"""The torch model's entry in train/registry.py's ``MODELS`` (``MODEL``): its trainer, and its
launcher of several processes (``train.torch.processes``). torch is imported inside the
functions only: the train stage imports this module with any model.
"""

from __future__ import annotations

import logging

from common.params import TrainParams, as_dict
from torch_model.store import torch_files
from train.model_entry import CHECKPOINT_DIR, Curves, Data, Model, ModelFiles, OnVirtualEpoch

log = logging.getLogger(__name__)


def omit(values: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    return {key: value for key, value in values.items() if key not in names}


def train_torch(
    settings: TrainParams, train: Data, valid: Data, on_virtual_epoch: OnVirtualEpoch
) -> tuple[Curves, tuple[str, ...], ModelFiles]:
    """Train the torch model; return its curves and the checkpoint files the run keeps."""
    # Imported here so that the scikit-learn models do not pay for importing torch.
    from torch_model.loop import NOT_FINGERPRINTED, state_dict_bytes, train_torch_model

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
    files = torch_files(state_dict_bytes(trained.state), trained.vocabulary.to_json(), meta)
    return trained.curves, trained.kept_checkpoints, files


def launch_torch(settings: TrainParams) -> bool:
    if settings.torch.processes <= 1:
        return False
    from torch_model.distributed import launch_if_asked  # imports torch: not for scikit-learn models

    # N workers under torch.distributed.run do the stage (torch_model/distributed.py).
    return launch_if_asked(settings.torch.processes, settings.model)


MODEL = Model(train=train_torch, compare=None, launch=launch_torch)
