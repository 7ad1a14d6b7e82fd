"""What every scikit-learn model shares: TF-IDF features, single-threaded fitting, saving and
scoring. The models themselves (which classifier, from which params) are train/registry.py's.

A fitted pipeline is saved with skops (``skops.io``), not pickled: loading a skops file builds
only the types it is told to trust (``TRUSTED_TYPES``), so a forged model file cannot run code;
a pickle runs whatever its ``__reduce__`` says.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.pipeline import Pipeline
from threadpoolctl import ThreadpoolController, threadpool_limits

from common.errors import PipelineError


def text_pipeline(classifier: Any) -> Pipeline:
    """CountVectorizer -> TfidfTransformer -> classifier, as in the original pipeline."""
    return Pipeline(
        [("counts", CountVectorizer()), ("tfidf", TfidfTransformer()), ("classifier", classifier)]
    )


def fit_pipeline(pipeline: Pipeline, texts: list[str], labels: np.ndarray) -> Pipeline:
    """Fit on one thread: BLAS reductions over several threads can differ in the last bit."""
    with threadpool_limits(limits=1):
        pipeline.fit(texts, labels)
    return pipeline


# Every type a saved pipeline holds (train/registry.py's classifiers behind the TF-IDF
# features); loading refuses a file holding any other. A new classifier adds its type here
# (tests/test_model_format.py fails, naming it, until it does).
TRUSTED_TYPES = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.naive_bayes.ComplementNB",
    "sklearn.pipeline.Pipeline",
    "sklearn.svm._classes.LinearSVC",
)


def pipeline_bytes(pipeline: Pipeline) -> bytes:
    """The pipeline in skops format, identical for identical fits.

    CountVectorizer caches ``id(stop_words)`` (set again on every transform): a memory
    address that differs per run. It is only a cache, recomputed when missing, so drop it.
    """
    import skops.io

    vars(pipeline.named_steps["counts"]).pop("_stop_words_id", None)
    return _canonical_skops(skops.io.dumps(pipeline))


def _canonical_skops(data: bytes) -> bytes:
    """``data`` (a skops zip) with the same bytes for the same pipeline: skops numbers each
    node (``__id__``) and names each array file (``<id>.npy``) by ``id()``, a memory address,
    and stamps each zip entry with the time. Renumber them in order of appearance; no time."""
    numbers: dict[int, int] = {}

    def number(value: int) -> int:
        return numbers.setdefault(value, len(numbers) + 1)

    def renumber(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                renumber(item)
        elif isinstance(node, dict):
            if isinstance(node.get("__loader__"), str):  # a skops node, not a dict's content
                if isinstance(node.get("__id__"), int):
                    node["__id__"] = number(node["__id__"])
                file = node.get("file")
                if isinstance(file, str) and file.removesuffix(".npy").isdigit():
                    node["file"] = f"{number(int(file.removesuffix('.npy')))}.npy"
            for item in node.values():
                renumber(item)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        renumber(schema)
        arrays = {
            f"{number(int(info.filename.removesuffix('.npy')))}.npy": archive.read(info)
            for info in archive.infolist()
            if info.filename != "schema.json"
        }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        entries = {"schema.json": json.dumps(schema, indent=2).encode(), **dict(sorted(arrays.items()))}
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return out.getvalue()


_NOT_SKOPS = (zipfile.BadZipFile, json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError)


def check_pipeline_file(data: bytes, where: str) -> None:
    """Refuse ``data`` unless it is a skops file of ``TRUSTED_TYPES`` only; builds nothing."""
    import skops.io

    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    except _NOT_SKOPS as error:
        raise PipelineError(
            f"{where}: not a skops model file ({type(error).__name__}); refusing to load"
        ) from None
    if untrusted:
        listed = ", ".join(untrusted)
        raise PipelineError(
            f"{where}: holds types this project does not trust ({listed[:200]}); refusing to load"
        )


def load_pipeline(data: bytes, where: str) -> Pipeline:
    """The pipeline saved by ``pipeline_bytes``, built only from ``TRUSTED_TYPES``."""
    import skops.io

    check_pipeline_file(data, where)
    try:
        pipeline = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except _NOT_SKOPS as error:
        raise PipelineError(
            f"{where}: not a skops model file ({type(error).__name__}); refusing to load"
        ) from None
    # Trusted types in another shape (a dict, an unfitted or cut-down pipeline): refused here
    # in one line, not as a traceback at the first texts scored.
    try:
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"holds a {type(pipeline).__name__}, not a Pipeline")
        positive_scores(pipeline, ["a check that the pipeline scores"])
    except Exception as error:  # whatever a malformed pipeline raises
        raise PipelineError(
            f"{where}: not a fitted text pipeline ({type(error).__name__}: {str(error)[:120]}); refusing to load"
        ) from None
    return pipeline


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, found once: ``threadpool_limits`` looks them up on
    every call (7.6 ms here), more than scoring one text (1.2 ms) costs the service."""
    return ThreadpoolController()


def positive_scores(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    """A score per text, higher meaning more positive: a probability, or an SVM margin."""
    with _thread_pools().limit(limits=1):
        if hasattr(pipeline, "predict_proba"):
            return pipeline.predict_proba(texts)[:, 1]
        return pipeline.decision_function(texts)


def score_threshold(pipeline: Pipeline) -> float:
    """The score at which the model predicts positive."""
    return 0.5 if hasattr(pipeline, "predict_proba") else 0.0
