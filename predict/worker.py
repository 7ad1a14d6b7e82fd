"""The scoring worker processes of ``python -m predict --workers N``: kept apart from the rest of
``predict`` so that a worker imports only the model's code (numpy, scikit-learn), not pyarrow
or pandas, and starts in a fraction of the time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.model_store import Scorer, scorer_from_files

# Imported once by the forkserver, before it forks the workers (multiprocessing's preload).
PRELOAD = [
    "predict.worker",
    "sklearn.pipeline",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "sklearn.svm",
]
_scorer: Scorer | None = None


def start(files: dict[str, bytes], where: str) -> None:
    """Each worker: load the model from the bytes the parent read, checking them again."""
    global _scorer
    _scorer = scorer_from_files(files, Path(where))


def score(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert _scorer is not None, "predict.worker.start was not called"
    return _scorer.predict(texts)
