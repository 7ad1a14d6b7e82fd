"""The models ``train.model`` can name: one ``MODELS`` entry each (docs/models.md).

An entry says how its model is trained and which of its params ``make experiments`` shows.
A scikit-learn model is its classifier, built from its params section (``train.<name>``,
a pydantic model in common/params.py) and the seed, behind the shared TF-IDF features; another
model points to its own trainer (the torch model's is in its folder, torch_model/training.py).
Everything else follows from this table and the params sections: the train stage's dispatch, ``train.model``'s choices (common/params.py's
``MODEL_NAMES``, checked against this table at stage start), saving and loading (scikit-learn
models are pickled, whatever their classifier), and ``make experiments``' columns
(``python -m train.registry columns``). This module is in the files the train stage already
imports, so a new entry changes no dvc.yaml dependency.
"""

from __future__ import annotations

import logging
import re
import sys
from importlib import import_module
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from common.errors import PipelineError
from common.params import MODEL_NAMES, TrainParams, as_dict
from train.curves import sklearn_curves
from train.model_entry import Classifier, Curves, Data, Model, ModelFiles, OnVirtualEpoch
from train.model_store import sklearn_files
from train.sklearn_models import fit_pipeline, positive_scores, score_threshold, text_pipeline

log = logging.getLogger(__name__)


def sklearn_model(classifier: Classifier, compare: tuple[str, ...] | None = ()) -> Model:
    return Model(train=train_sklearn, compare=compare, classifier=classifier)


def build_pipeline(settings: TrainParams) -> Pipeline:
    """The unfitted pipeline of the scikit-learn model ``settings.model``."""
    classifier = MODELS[settings.model].classifier
    if classifier is None:
        raise PipelineError(f"params.yaml: train.model: {settings.model!r} is not a scikit-learn model")
    return text_pipeline(classifier(settings.model_params, settings.seed))


def train_sklearn(
    settings: TrainParams, train: Data, valid: Data, on_virtual_epoch: OnVirtualEpoch
) -> tuple[Curves, tuple[str, ...], ModelFiles]:
    pipeline = fit_pipeline(build_pipeline(settings), *train)
    predicted = positive_scores(pipeline, valid[0]) >= score_threshold(pipeline)
    valid_accuracy = float(np.mean(predicted == valid[1]))
    log.info("%s fitted on %d rows; valid accuracy %.4f", settings.model, len(train[0]), valid_accuracy)
    curves = sklearn_curves(pipeline, train, valid, valid_accuracy)
    meta = {
        "model": settings.model,
        # Only what this model used: an unrelated train.* change must not change model/.
        "params": {"seed": settings.seed, settings.model: as_dict(settings.model_params)},
        "train_rows": len(train[0]),
        "valid_accuracy": round(valid_accuracy, 6),
    }
    files = sklearn_files(pipeline, meta)
    on_virtual_epoch(curves)  # its single step
    return curves, (), files


MODELS: dict[str, Model] = {
    "logreg": sklearn_model(
        lambda p, seed: LogisticRegression(C=p.C, max_iter=p.max_iter, random_state=seed), compare=("C",)
    ),
    "svm": sklearn_model(lambda p, seed: LinearSVC(C=p.C, random_state=seed), compare=("C",)),
    "nb": sklearn_model(lambda p, seed: ComplementNB(alpha=p.alpha, norm=p.norm), compare=("alpha",)),
    # An optional part's entry is its module's MODEL, imported by name (importlib) so that its
    # whole registration is this one line to delete.
    "torch": import_module("torch_model.training").MODEL,  # optional part: torch_model
}


def check_registry(models: dict[str, Any] = MODELS, names: tuple[str, ...] = MODEL_NAMES) -> None:
    """Every params section has an entry, and every entry a params section."""
    for name in names:
        if name not in models:
            raise PipelineError(
                f"train.model: {name!r} has a params section but no entry in train/registry.py"
            )
    for name in models:
        if name not in names:
            raise PipelineError(
                f"train/registry.py: {name!r} has no params section (add `{name}` to TrainParams "
                "in common/params.py, and to params.yaml)"
            )


def model_columns(models: dict[str, Model] = MODELS) -> str:
    """The regex of the train.* columns `make experiments` keeps: the model and what each
    entry compares."""
    keys = ["model$"]
    for name, model in models.items():
        if model.compare is None:
            keys.append(re.escape(f"{name}."))
        else:
            keys.extend(re.escape(f"{name}.{key}") + "$" for key in model.compare)
    return rf"train\.({'|'.join(keys)})"


if __name__ == "__main__":
    # `python -m train.registry columns`: the Makefile's experiments and compare targets.
    if sys.argv[1:] != ["columns"]:
        sys.exit("usage: python -m train.registry columns")
    print(model_columns())
