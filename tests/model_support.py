"""Small models for the tests of the model loaders, and a pickle that proves it was executed."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from common.params import TrainParams
from train.model_store import save_sklearn
from train.registry import build_pipeline
from train.sklearn_models import fit_pipeline

POSITIVE = ["good film", "great fun", "a wonderful cast", "lovely and warm"]
NEGATIVE = ["bad plot", "awful acting", "a boring mess", "dull and cold"]


class CreatesAFile:
    """Unpickling this calls ``open(path, "w")``: proof that a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def malicious_pickle(marker: Path) -> bytes:
    return pickle.dumps(CreatesAFile(marker), protocol=5)


def small_model(model_dir: Path, model: str = "logreg") -> None:
    """A logreg (or svm) pipeline fitted on a few phrases, saved as train saves it."""
    texts = (POSITIVE + NEGATIVE) * 5
    labels = np.array(([1] * len(POSITIVE) + [0] * len(NEGATIVE)) * 5)
    params = TrainParams(model=model)  # type: ignore[arg-type]
    save_sklearn(fit_pipeline(build_pipeline(params), texts, labels), {"model": model}, model_dir)
