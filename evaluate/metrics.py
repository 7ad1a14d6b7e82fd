"""Test-set metrics and the data behind the confusion-matrix, ROC and precision-recall plots."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from common.errors import PipelineError

DECIMALS = 6


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """accuracy, precision, recall, f1, roc_auc and the confusion matrix normalized by true class.

    ``true_negative`` is the share of negatives predicted negative, ``false_positive`` the
    share of negatives predicted positive, and likewise for positives (rows sum to 1).
    In this order in metrics/model_performance.json: the headline scores first, the first
    columns of `dvc exp show` and `dvc metrics show`.
    """
    if len(np.unique(y_true)) < 2:
        raise PipelineError("test split has a single class: roc_auc and recall are undefined")
    matrix = skm.confusion_matrix(y_true, y_pred, labels=[0, 1], normalize="true")
    values = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, y_score),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0),
        "true_negative": matrix[0, 0],
        "false_positive": matrix[0, 1],
        "false_negative": matrix[1, 0],
        "true_positive": matrix[1, 1],
    }
    return {name: round(float(value), DECIMALS) for name, value in values.items()}


def roc_points(y_true: np.ndarray, y_score: np.ndarray) -> list[dict[str, float]]:
    """The ROC curve as rows of ``fpr``, ``tpr``, ``threshold``."""
    fpr, tpr, thresholds = skm.roc_curve(y_true, y_score)
    return [
        {
            "fpr": round(float(f), DECIMALS),
            "tpr": round(float(t), DECIMALS),
            "threshold": round(float(h), DECIMALS),
        }
        for f, t, h in zip(fpr, tpr, np.nan_to_num(thresholds, posinf=1e9), strict=True)
    ]


def precision_recall_points(y_true: np.ndarray, y_score: np.ndarray) -> list[dict[str, float]]:
    """The precision-recall curve as rows of ``recall``, ``precision``, ``threshold``.

    The curve has a point per distinct score; a point inside a horizontal or vertical run
    (same precision, or same recall, as both neighbours) does not change the drawn line, so it
    is dropped to keep the plot data small. The last point (recall 0, precision 1) has no
    threshold of its own; it gets the ROC curve's stand-in for "above every score".
    """
    precision, recall, thresholds = skm.precision_recall_curve(y_true, y_score)
    precision, recall = precision.round(DECIMALS), recall.round(DECIMALS)
    thresholds = np.nan_to_num(np.append(thresholds, np.inf), posinf=1e9).round(DECIMALS)
    keep = np.ones(len(precision), dtype=bool)
    for values in (precision, recall):
        keep[1:-1] &= ~((values[1:-1] == values[:-2]) & (values[1:-1] == values[2:]))
    return [
        {"recall": float(r), "precision": float(p), "threshold": float(h)}
        for r, p, h in zip(recall[keep], precision[keep], thresholds[keep], strict=True)
    ]


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, int]]:
    """One ``actual``/``predicted`` row per test example, the shape DVC's confusion template reads."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, y_pred, strict=True)]
