"""Saving a trained model under ``model/`` and loading it back as a scorer.

``model/meta.json`` says which kind of model the folder holds; ``evaluate``, ``predict`` and
``serve`` score texts through ``load_scorer`` without knowing the kind.

Integrity, three layers (docs/serving.md):
- ``model/manifest.json`` holds the SHA-256 of every other file of the folder (no time, no
  path: the same model gives the same bytes). Loading reads each file once and checks its
  bytes against the manifest before parsing them: it catches a folder altered file by file
  (a replaced object in a DVC remote with ``verify = false``, a partial copy).
- The trust root: the manifest lives beside the files it vouches for, so whoever can write the
  folder can rewrite it too. ``read_trusted_model`` also checks the folder's DVC hash against
  ``dvc.lock``'s record of ``model`` (the hash the user committed), unless the caller passes
  ``--unlocked-model`` (the folder was trained here, by ``python -m train``, and not locked yet).
- A format that cannot run code: scikit-learn models are skops files, loaded with an explicit
  list of trusted types (train/sklearn_models.py), and each other kind's files likewise (its
  ``Kind.check``: torch weights are a state dict loaded with ``weights_only=True``); so even an
  unlocked folder builds only arrays and known estimators.
"""

from __future__ import annotations

import hashlib
import json
from importlib import import_module
from pathlib import Path
from typing import Any

from ruamel.yaml import YAMLError

from common.atomic import atomic_outputs, dumps_json
from common.errors import PipelineError
from common.params import parse_yaml_as_dvc
from train.model_kind import META_FILE, MODEL_DIR, Kind, Scorer

SKLEARN_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = Path("dvc.lock")
# The command-line flag of evaluate, predict and serve that skips the dvc.lock check.
UNLOCKED_FLAG = "--unlocked-model"
UNLOCKED_HELP = (
    "accept a model folder that dvc.lock does not record: one trained here by `python -m train` "
    "and not locked yet (its manifest and its format are still checked)"
)


def sklearn_files(pipeline: Any, meta: dict[str, Any]) -> dict[str, bytes]:
    """The model folder's files of a fitted pipeline (skops) and its metadata."""
    from train.sklearn_models import pipeline_bytes

    return {
        SKLEARN_FILE: pipeline_bytes(pipeline),
        META_FILE: dumps_json({"kind": "sklearn", **meta}).encode(),
    }


def save_sklearn(pipeline: Any, meta: dict[str, Any], model_dir: Path = MODEL_DIR) -> None:
    """Save the fitted pipeline (skops) and its metadata into ``model_dir``, atomically."""
    write_model_dir(sklearn_files(pipeline, meta), model_dir)


def sha256_manifest(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def fill_model_dir(files: dict[str, bytes], folder: Path) -> None:
    """Write ``files`` and their manifest into the (empty, temp) ``folder``."""
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / MANIFEST_FILE).write_text(dumps_json({"sha256": sha256_manifest(files)}))


def write_model_dir(files: dict[str, bytes], model_dir: Path = MODEL_DIR) -> None:
    """Write ``files`` and their manifest into ``model_dir``, atomically."""
    with atomic_outputs(dirs=(model_dir,)) as (temp,):
        fill_model_dir(files, temp)


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


def load_sklearn_scorer(files: dict[str, bytes], meta: dict[str, Any], where: Path = MODEL_DIR) -> Scorer:
    """Any scikit-learn model (train/registry.py): its pickled pipeline."""
    from train.sklearn_models import load_pipeline, positive_scores, score_threshold

    pipeline = load_pipeline(files[SKLEARN_FILE], str(where / SKLEARN_FILE))
    return Scorer(lambda texts: positive_scores(pipeline, texts), score_threshold(pipeline), meta)


def check_sklearn_file(files: dict[str, bytes], where: Path) -> None:
    """A scikit-learn model's file: skops, naming trusted types only."""
    if SKLEARN_FILE in files:
        from train.sklearn_models import check_pipeline_file

        check_pipeline_file(files[SKLEARN_FILE], str(where / SKLEARN_FILE))


# Every scikit-learn model is a skops file (kind sklearn); a model that skops cannot save gets a
# kind of its own here: its files, its save function and its loader (train/model_kind.py).
# A kind of an optional part is its module's KIND, imported by name (importlib) so that its
# whole registration is one line to delete.
KINDS = {
    "sklearn": Kind((SKLEARN_FILE,), load_sklearn_scorer, check_sklearn_file),
    "torch": import_module("torch_model.store").KIND,  # optional part: torch_model
}


def check_model_format(files: dict[str, bytes], where: Path = MODEL_DIR) -> None:
    """Refuse, before anything is built, a model file in a format that could run code: a
    scikit-learn file that is not skops or names an untrusted type, torch weights that are
    not a plain state dict (each kind's ``check``). ``serve`` calls it before it starts
    listening."""
    name = parse_meta(files, where).get("kind")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is not None:
        kind.check(files, where)


def read_meta(model_dir: Path = MODEL_DIR) -> dict[str, Any]:
    path = model_dir / META_FILE
    try:
        return parse_meta({META_FILE: path.read_bytes()}, model_dir)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the train stage first)") from None


def check_files(files: dict[str, bytes], where: Path = MODEL_DIR) -> dict[str, Any]:
    """Each file matching the manifest, then a known kind with its files present; return the
    metadata. The manifest first: not a byte of the folder is read as data before its hash is
    checked, so a tampered meta.json is named as tampered, not as some other error."""
    verify_manifest(files, where)
    meta = parse_meta(files, where)
    kind = meta.get("kind", "")
    if kind not in KINDS:
        raise PipelineError(f"{where / META_FILE}: unknown model kind {kind!r}")
    for name in KINDS[kind].files:
        if name not in files:
            raise PipelineError(f"{where / name}: not found (model/ is incomplete: run the train stage)")
    return meta


def scorer_from_files(files: dict[str, bytes], where: Path = MODEL_DIR) -> Scorer:
    """The model held by ``files`` (a model folder's contents), after the integrity check."""
    meta = check_files(files, where)
    # Only after verify_manifest: these bytes are the ones the manifest lists.
    return KINDS[meta["kind"]].load(files, meta, where)


def locked_model_md5(lock_text: str | None, where: str) -> str | None:
    """``dvc.lock``'s md5 of the ``model`` output (train stage), or None if it has none."""
    if lock_text is None:
        return None
    try:
        outs = (parse_yaml_as_dvc(lock_text) or {})["stages"]["train"]["outs"]
    except (YAMLError, KeyError, TypeError):
        raise PipelineError(f"{where}: no train stage outputs in it") from None
    for out in outs:
        if isinstance(out, dict) and out.get("path") == str(MODEL_DIR):
            return str(out.get("md5"))
    return None


def check_locked(files: dict[str, bytes], where: Path, lock_file: Path = LOCK_FILE) -> str:
    """Refuse ``files`` unless their DVC hash is ``lock_file``'s record of ``model``; return it."""
    text = lock_file.read_text() if lock_file.is_file() else None
    expected = locked_model_md5(text, str(lock_file))
    actual = dvc_dir_md5(files)
    if expected is None:
        raise PipelineError(
            f"{where}: {lock_file} records no model, so nothing vouches for this folder; refusing to load "
            f"(run `dvc repro`, or pass {UNLOCKED_FLAG} if you trained it here with `python -m train`)"
        )
    if actual != expected:
        raise PipelineError(
            f"{where}: DVC hash {actual} is not the one {lock_file} records ({expected}); refusing to load "
            f"(run `dvc checkout {MODEL_DIR}` or `dvc repro`, or pass {UNLOCKED_FLAG} if you trained it "
            "here with `python -m train`)"
        )
    return actual


def read_trusted_model(
    model_dir: Path = MODEL_DIR, unlocked: bool = False, lock_file: Path = LOCK_FILE
) -> dict[str, bytes]:
    """The files of ``model_dir``, after the manifest and (unless ``unlocked``) the dvc.lock check."""
    files = read_model_files(model_dir)
    check_files(files, model_dir)
    if not unlocked:
        check_locked(files, model_dir, lock_file)
    return files


def load_scorer(model_dir: Path = MODEL_DIR, unlocked: bool = False) -> Scorer:
    """The model in ``model_dir`` as a ``Scorer``, whatever its kind, once every file matches
    the folder's manifest and the folder matches dvc.lock (unless ``unlocked``); errors name
    the file."""
    return scorer_from_files(read_trusted_model(model_dir, unlocked), model_dir)
