"""Saving a trained model under ``model/`` and loading it back as a scorer.

``model/meta.json`` says which kind of model the folder holds; ``evaluate`` scores test
texts through ``load_scorer`` without knowing the kind.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import atomic_outputs, dumps_json
from common.errors import PipelineError

MODEL_DIR = Path("model")
META_FILE = "meta.json"
SKLEARN_FILE = "model.pkl"
TORCH_WEIGHTS_FILE = "model.pt"
TORCH_VOCAB_FILE = "vocab.json"


@dataclass(frozen=True)
class Scorer:
    """Scores texts (higher = more positive); ``threshold`` separates the two classes."""

    score: Callable[[list[str]], np.ndarray]
    threshold: float
    meta: dict[str, Any]

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        scores = self.score(texts)
        return scores, (scores >= self.threshold).astype(np.int8)


def save_sklearn(pipeline: Any, meta: dict[str, Any], model_dir: Path = MODEL_DIR) -> None:
    """Pickle the fitted pipeline and its metadata into ``model_dir``, atomically."""
    from train.sklearn_models import pipeline_bytes

    with atomic_outputs(dirs=(model_dir,)) as (temp,):
        (temp / SKLEARN_FILE).write_bytes(pipeline_bytes(pipeline))
        (temp / META_FILE).write_text(dumps_json({"kind": "sklearn", **meta}))


def save_torch(
    weights: bytes, vocabulary: dict[str, Any], meta: dict[str, Any], model_dir: Path = MODEL_DIR
) -> None:
    """Write the torch model's weights, vocabulary and metadata into ``model_dir``, atomically."""
    with atomic_outputs(dirs=(model_dir,)) as (temp,):
        (temp / TORCH_WEIGHTS_FILE).write_bytes(weights)
        (temp / TORCH_VOCAB_FILE).write_text(dumps_json(vocabulary))
        (temp / META_FILE).write_text(dumps_json({"kind": "torch", **meta}))


def load_torch_scorer(model_dir: Path, meta: dict[str, Any]) -> Scorer:
    import torch

    from train.torch_data import Vocabulary
    from train.torch_model import Architecture, TextCNN, configure_determinism, positive_probabilities

    configure_determinism(int(meta["params"]["torch"]["num_threads"]))
    vocabulary = Vocabulary.from_json(json.loads((model_dir / TORCH_VOCAB_FILE).read_text()))
    model = TextCNN(Architecture(**meta["architecture"]))
    weights = torch.load(model_dir / TORCH_WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(weights)
    return Scorer(lambda texts: positive_probabilities(model, vocabulary, texts), 0.5, meta)


def read_meta(model_dir: Path = MODEL_DIR) -> dict[str, Any]:
    path = model_dir / META_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the train stage first)") from None
    except json.JSONDecodeError as error:
        raise PipelineError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None


def load_scorer(model_dir: Path = MODEL_DIR) -> Scorer:
    """The model in ``model_dir`` as a ``Scorer``, whatever its kind; errors name the file."""
    meta = read_meta(model_dir)
    files = {"sklearn": [SKLEARN_FILE], "torch": [TORCH_WEIGHTS_FILE, TORCH_VOCAB_FILE]}
    for name in files.get(meta.get("kind", ""), []):
        if not (model_dir / name).is_file():
            raise PipelineError(f"{model_dir / name}: not found (model/ is incomplete: run the train stage)")
    if meta.get("kind") == "sklearn":
        from train.sklearn_models import positive_scores, score_threshold

        pipeline = pickle.loads((model_dir / SKLEARN_FILE).read_bytes())
        return Scorer(lambda texts: positive_scores(pipeline, texts), score_threshold(pipeline), meta)
    if meta.get("kind") == "torch":
        return load_torch_scorer(model_dir, meta)
    raise PipelineError(f"{model_dir / META_FILE}: unknown model kind {meta.get('kind')!r}")
