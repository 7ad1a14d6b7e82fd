"""What an entry of train/registry.py's ``MODELS`` is (``Model``) and what its trainer gets and
returns. Apart from the registry so that a model kept in an optional part
(``torch_model/training.py``) can build its entry without importing the registry that lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.params import TrainParams

CHECKPOINT_DIR = Path("checkpoints")
Data = tuple[list[str], np.ndarray]
Curves = list[dict[str, float | int]]
OnVirtualEpoch = Callable[[Curves], None]
ModelFiles = dict[str, bytes]
# (train.*, train split, valid split, called after each virtual epoch) -> (curves, the
# checkpoint files the run keeps, model/'s files); the train stage writes model/ and the
# metrics from them as one unit (train/__main__.py).
Trainer = Callable[[TrainParams, Data, Data, OnVirtualEpoch], tuple[Curves, tuple[str, ...], ModelFiles]]
# (the model's params section, train.seed) -> an unfitted scikit-learn classifier.
Classifier = Callable[[Any, int], Any]


@dataclass(frozen=True)
class Model:
    """One ``train.model`` choice."""

    train: Trainer
    # Keys of its params section that `make experiments` shows; None: every key.
    compare: tuple[str, ...] | None = ()
    # Scikit-learn models: the classifier fed the TF-IDF features.
    classifier: Classifier | None = None
    # Runs the whole stage elsewhere when the params ask for it (the torch model: several
    # processes under torch.distributed.run) and returns True once it did; False: train here.
    launch: Callable[[TrainParams], bool] | None = None
