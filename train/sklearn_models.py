"""What every scikit-learn model shares: TF-IDF features, single-threaded fitting, pickling and
scoring. The models themselves (which classifier, from which params) are train/registry.py's."""

from __future__ import annotations

import functools
import pickle
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.pipeline import Pipeline
from threadpoolctl import ThreadpoolController, threadpool_limits


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


def pipeline_bytes(pipeline: Pipeline) -> bytes:
    """The pickled pipeline, identical for identical fits.

    CountVectorizer caches ``id(stop_words)`` (set again on every transform): a memory
    address that differs per run. It is only a cache, recomputed when missing, so drop it.
    """
    vars(pipeline.named_steps["counts"]).pop("_stop_words_id", None)
    return pickle.dumps(pipeline, protocol=5)


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
