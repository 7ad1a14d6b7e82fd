"""What a kind of model folder is (``model/meta.json``'s ``kind``): how it is scored once
loaded (``Scorer``), and which files, loader and format check it has (``Kind``). Apart from
train/model_store.py so that a kind kept in an optional part (``torch_model/store.py``) can
build on it without importing the store that registers it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_DIR = Path("model")
META_FILE = "meta.json"


@dataclass(frozen=True)
class Scorer:
    """Scores texts (higher = more positive); ``threshold`` separates the two classes."""

    score: Callable[[list[str]], np.ndarray]
    threshold: float
    meta: dict[str, Any]

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        scores = self.score(texts)
        return scores, (scores >= self.threshold).astype(np.int8)


@dataclass(frozen=True)
class Kind:
    """How a kind of model folder (``meta.json``'s ``kind``) is stored and loaded."""

    files: tuple[str, ...]
    load: Callable[[dict[str, bytes], dict[str, Any], Path], Scorer]
    # Refuses (PipelineError), before anything is built, a model file in a format that could
    # run code; ``(files, where)``. A file that is missing is left to the loader to name.
    check: Callable[[dict[str, bytes], Path], object]
