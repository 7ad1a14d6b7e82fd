"""The training-curves plot data (``metrics/training_curves.json``), for every model kind.

One row per virtual epoch: ``virtual_epoch``, ``train_loss``, ``valid_loss``,
``valid_accuracy``, and for the torch model ``learning_rate`` and ``beta1`` (of the virtual
epoch's last optimizer step). A scikit-learn model is fitted once, so it gives one row
(epoch 1) and no schedule.

The schedule is also written on its own (``metrics/training_schedule.json``), an empty list
for a scikit-learn model: DVC warns about, and does not draw, a plot whose field is missing
from some revision's rows, and an empty file draws nothing silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

CURVES_FILE = Path("metrics/training_curves.json")
SCHEDULE_FILE = Path("metrics/training_schedule.json")
SCHEDULE_FIELDS = ("virtual_epoch", "learning_rate", "beta1")


def schedule_rows(curves: list[dict[str, float | int]]) -> list[dict[str, float | int]]:
    """The learning rate and beta1 of each virtual epoch; none for curves without them."""
    return [{name: row[name] for name in SCHEDULE_FIELDS} for row in curves if "learning_rate" in row]


def logistic_loss(decision: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``log(1 + exp(-y f))`` with ``y`` in {-1, +1}.

    For logistic regression this is exactly the log loss of its probabilities; for the
    SVM it scores the margins on the same scale (the hinge loss would not compare).
    """
    signs = np.where(labels == 1, 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -signs * decision)))


def decision(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    """A score per text on the log-odds scale: ``decision_function`` where the classifier has
    one (logistic regression's is its log-odds, the SVM's its margin), else the log-odds of its
    probabilities (naive Bayes), whose logistic loss is then exactly their log loss."""
    if hasattr(pipeline, "decision_function"):
        return pipeline.decision_function(texts)
    log_proba = pipeline.predict_log_proba(texts)
    return log_proba[:, 1] - log_proba[:, 0]


def sklearn_curves(
    pipeline: Pipeline,
    train: tuple[list[str], np.ndarray],
    valid: tuple[list[str], np.ndarray],
    valid_accuracy: float,
) -> list[dict[str, float | int]]:
    with threadpool_limits(limits=1):
        train_loss = logistic_loss(decision(pipeline, train[0]), train[1])
        valid_loss = logistic_loss(decision(pipeline, valid[0]), valid[1])
    return [
        {
            "virtual_epoch": 1,
            "train_loss": round(train_loss, 6),
            "valid_loss": round(valid_loss, 6),
            "valid_accuracy": round(valid_accuracy, 6),
        }
    ]
