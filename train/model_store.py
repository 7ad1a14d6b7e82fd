"""Saving a trained model under ``model/`` and loading it back as a scorer.

``model/meta.json`` says which kind of model the folder holds; ``evaluate``, ``predict`` and
``serve`` score texts through ``load_scorer`` without knowing the kind.

Integrity: ``model/manifest.json`` holds the SHA-256 of every other file of the folder (no
time, no path: the same model gives the same bytes). Loading reads each file once, checks
its bytes against the manifest and only then parses them, so a pickle that is not the one
train wrote is refused before a byte of it is unpickled. The manifest catches a folder whose
files were altered one by one (a replaced object in a DVC remote with ``verify = false``, a
partial copy); a forger who rewrites the manifest too is caught only by checking the folder
against a ``dvc.lock`` from git, which ``dvc_dir_md5`` and ``serve --rev`` do.
"""

from __future__ import annotations

import hashlib
import io
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
MANIFEST_FILE = "manifest.json"


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

    files = {
        SKLEARN_FILE: pipeline_bytes(pipeline),
        META_FILE: dumps_json({"kind": "sklearn", **meta}).encode(),
    }
    write_model_dir(files, model_dir)


def save_torch(
    weights: bytes, vocabulary: dict[str, Any], meta: dict[str, Any], model_dir: Path = MODEL_DIR
) -> None:
    """Write the torch model's weights, vocabulary and metadata into ``model_dir``, atomically."""
    files = {
        TORCH_WEIGHTS_FILE: weights,
        TORCH_VOCAB_FILE: dumps_json(vocabulary).encode(),
        META_FILE: dumps_json({"kind": "torch", **meta}).encode(),
    }
    write_model_dir(files, model_dir)


def sha256_manifest(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def write_model_dir(files: dict[str, bytes], model_dir: Path = MODEL_DIR) -> None:
    """Write ``files`` and their manifest into ``model_dir``, atomically."""
    manifest = {"sha256": sha256_manifest(files)}
    with atomic_outputs(dirs=(model_dir,)) as (temp,):
        for name, data in files.items():
            (temp / name).write_bytes(data)
        (temp / MANIFEST_FILE).write_text(dumps_json(manifest))


def dvc_dir_md5(files: dict[str, bytes]) -> str:
    """DVC's hash of a folder holding ``files`` (flat), as ``dvc.lock`` records it: the MD5 of
    the JSON listing of each file's MD5 sorted by path, with ``.dir`` appended."""
    listing = [
        {"md5": hashlib.md5(data, usedforsecurity=False).hexdigest(), "relpath": name}
        for name, data in sorted(files.items())
    ]
    digest = hashlib.md5(json.dumps(listing, sort_keys=True).encode(), usedforsecurity=False)
    return digest.hexdigest() + ".dir"


def read_model_files(model_dir: Path = MODEL_DIR) -> dict[str, bytes]:
    """Every file of ``model_dir`` by name, read once (the bytes that are checked are the bytes
    that are loaded). A folder inside it is an error: a model folder is flat."""
    if not model_dir.is_dir():
        raise PipelineError(f"{model_dir}: not found (run the train stage first)")
    files = {}
    for path in sorted(model_dir.iterdir()):
        if not path.is_file() or path.is_symlink():
            raise PipelineError(f"{path}: not a regular file (model/ holds files only); refusing to load")
        files[path.name] = path.read_bytes()
    return files


def parse_meta(files: dict[str, bytes], where: Path) -> dict[str, Any]:
    path = where / META_FILE
    if META_FILE not in files:
        raise PipelineError(f"{path}: not found (run the train stage first)")
    try:
        meta = json.loads(files[META_FILE])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    return meta


def verify_manifest(files: dict[str, bytes], where: Path = MODEL_DIR) -> None:
    """Refuse ``files`` unless the manifest lists exactly the other files with their SHA-256."""
    path = where / MANIFEST_FILE
    if MANIFEST_FILE not in files:
        raise PipelineError(
            f"{path}: not found; refusing to load a model folder without its integrity manifest "
            "(re-run the train stage)"
        )
    try:
        listed = json.loads(files[MANIFEST_FILE])["sha256"]
        if not isinstance(listed, dict):
            raise TypeError
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise PipelineError(f"{path}: not a valid manifest; refusing to load") from None
    actual = sha256_manifest({k: v for k, v in files.items() if k != MANIFEST_FILE})
    for name in sorted(set(listed) | set(actual)):
        if name not in actual:
            raise PipelineError(f"{where / name}: listed in {MANIFEST_FILE} but missing; refusing to load")
        if name not in listed:
            raise PipelineError(f"{where / name}: not listed in {MANIFEST_FILE}; refusing to load")
        if listed[name] != actual[name]:
            raise PipelineError(
                f"{where / name}: SHA-256 {actual[name][:16]}... does not match {MANIFEST_FILE} "
                f"({str(listed[name])[:16]}...): the file was altered; refusing to load"
            )


def load_sklearn_scorer(files: dict[str, bytes], meta: dict[str, Any]) -> Scorer:
    """Any scikit-learn model (train/registry.py): its pickled pipeline."""
    from train.sklearn_models import positive_scores, score_threshold

    pipeline = pickle.loads(files[SKLEARN_FILE])
    return Scorer(lambda texts: positive_scores(pipeline, texts), score_threshold(pipeline), meta)


def load_torch_scorer(files: dict[str, bytes], meta: dict[str, Any]) -> Scorer:
    import torch

    from train.torch_data import Vocabulary
    from train.torch_model import Architecture, TextCNN, configure_determinism, positive_probabilities

    configure_determinism(int(meta["params"]["torch"]["num_threads"]))
    vocabulary = Vocabulary.from_json(json.loads(files[TORCH_VOCAB_FILE]))
    model = TextCNN(Architecture(**meta["architecture"]))
    weights = torch.load(io.BytesIO(files[TORCH_WEIGHTS_FILE]), map_location="cpu", weights_only=True)
    model.load_state_dict(weights)
    model.eval()
    return Scorer(lambda texts: positive_probabilities(model, vocabulary, texts), 0.5, meta)


@dataclass(frozen=True)
class Kind:
    """How a kind of model folder (``meta.json``'s ``kind``) is stored and loaded."""

    files: tuple[str, ...]
    load: Callable[[dict[str, bytes], dict[str, Any]], Scorer]


# Every scikit-learn model is pickled (kind sklearn); a model that is not picklable gets a kind
# of its own here: its files, its save function above and its loader.
KINDS = {
    "sklearn": Kind((SKLEARN_FILE,), load_sklearn_scorer),
    "torch": Kind((TORCH_WEIGHTS_FILE, TORCH_VOCAB_FILE), load_torch_scorer),
}


def read_meta(model_dir: Path = MODEL_DIR) -> dict[str, Any]:
    path = model_dir / META_FILE
    try:
        return parse_meta({META_FILE: path.read_bytes()}, model_dir)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the train stage first)") from None


def scorer_from_files(files: dict[str, bytes], where: Path = MODEL_DIR) -> Scorer:
    """The model held by ``files`` (a model folder's contents), after the integrity check."""
    meta = parse_meta(files, where)
    kind = meta.get("kind", "")
    if kind not in KINDS:
        raise PipelineError(f"{where / META_FILE}: unknown model kind {kind!r}")
    for name in KINDS[kind].files:
        if name not in files:
            raise PipelineError(f"{where / name}: not found (model/ is incomplete: run the train stage)")
    verify_manifest(files, where)
    # Only after verify_manifest: these bytes are the ones train wrote (a pickle is code).
    return KINDS[kind].load(files, meta)


def load_scorer(model_dir: Path = MODEL_DIR) -> Scorer:
    """The model in ``model_dir`` as a ``Scorer``, whatever its kind, once every file matches
    the folder's manifest; errors name the file."""
    return scorer_from_files(read_model_files(model_dir), model_dir)
