"""The torch model's folder (``meta.json`` kind ``torch``): weights, vocabulary and metadata,
saved by ``torch_files`` and loaded back as a scorer; its ``KIND`` is registered in
train/model_store.py's ``KINDS``. torch is imported inside the functions only: evaluate,
predict and serve import this module with any model, and only a torch model loads torch.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

from common.atomic import dumps_json
from common.errors import PipelineError
from train.model_kind import META_FILE, MODEL_DIR, Kind, Scorer

TORCH_WEIGHTS_FILE = "model.pt"
TORCH_VOCAB_FILE = "vocab.json"


def torch_files(weights: bytes, vocabulary: dict[str, Any], meta: dict[str, Any]) -> dict[str, bytes]:
    """The model folder's files of the torch model: weights, vocabulary and metadata."""
    return {
        TORCH_WEIGHTS_FILE: weights,
        TORCH_VOCAB_FILE: dumps_json(vocabulary).encode(),
        META_FILE: dumps_json({"kind": "torch", **meta}).encode(),
    }


def load_torch_scorer(files: dict[str, bytes], meta: dict[str, Any], where: Path = MODEL_DIR) -> Scorer:
    from torch_model.data import Vocabulary
    from torch_model.model import Architecture, TextCNN, configure_determinism, positive_probabilities

    weights = torch_weights(files, where)  # first: the one file that could hold code
    try:
        configure_determinism(int(meta["params"]["torch"]["num_threads"]))
        vocabulary = Vocabulary.from_json(json.loads(files[TORCH_VOCAB_FILE]))
        model = TextCNN(Architecture(**meta["architecture"]))
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise PipelineError(
            f"{where}: the torch model's files do not fit together ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else ''}); refusing to load"
        ) from None
    model.eval()
    return Scorer(lambda texts: positive_probabilities(model, vocabulary, texts), 0.5, meta)


def torch_weights(files: dict[str, bytes], where: Path) -> dict[str, Any]:
    """The torch model's state dict: ``weights_only=True`` builds tensors and plain containers
    only, and refuses (one line) a file that names any other global."""
    import pickle

    import torch

    try:
        with warnings.catch_warnings():  # on a foreign pickle, torch warns about its protocol
            warnings.simplefilter("ignore")
            weights = torch.load(io.BytesIO(files[TORCH_WEIGHTS_FILE]), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        # Not torch's own text: it suggests `weights_only=False`, the one thing never to do here.
        raise PipelineError(
            f"{where / TORCH_WEIGHTS_FILE}: not a plain torch state dict ({type(error).__name__}: it needs "
            "more than tensors and plain containers); refusing to load"
        ) from None
    if not isinstance(weights, dict):
        raise PipelineError(f"{where / TORCH_WEIGHTS_FILE}: not a torch state dict; refusing to load")
    return weights


def check_torch_file(files: dict[str, bytes], where: Path) -> None:
    """The torch weights, if present, are a plain state dict."""
    if TORCH_WEIGHTS_FILE in files:
        torch_weights(files, where)


KIND = Kind((TORCH_WEIGHTS_FILE, TORCH_VOCAB_FILE), load_torch_scorer, check_torch_file)
