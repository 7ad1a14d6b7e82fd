"""Test-set metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import PipelineError
from evaluate.metrics import classification_metrics, confusion_rows, roc_points


def test_metrics_match_hand_computed_values() -> None:
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    y_score = np.array([0.1, 0.2, 0.3, 0.6, 0.9, 0.8, 0.4, 0.7])
    metrics = classification_metrics(y_true, y_pred, y_score)
    assert metrics["accuracy"] == 0.75
    assert metrics["precision"] == 0.75  # 3 of 4 predicted positives
    assert metrics["recall"] == 0.75  # 3 of 4 positives
    assert metrics["f1"] == 0.75
    # Scores rank 15 of the 16 (negative, positive) pairs correctly: 0.6 > 0.4.
    assert metrics["roc_auc"] == pytest.approx(15 / 16)
    assert (metrics["true_negative"], metrics["false_positive"]) == (0.75, 0.25)
    assert (metrics["false_negative"], metrics["true_positive"]) == (0.25, 0.75)


def test_confusion_matrix_rows_are_normalized_by_true_class() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 1, 0])
    metrics = classification_metrics(y_true, y_pred, y_pred.astype(float))
    assert metrics["true_negative"] + metrics["false_positive"] == pytest.approx(1.0)
    assert metrics["true_positive"] == 0.75


def test_single_class_test_split_is_a_clear_error() -> None:
    with pytest.raises(PipelineError, match="single class"):
        classification_metrics(np.array([1, 1]), np.array([1, 0]), np.array([0.9, 0.1]))


def test_plot_data_shapes() -> None:
    y_true = np.array([0, 1, 1])
    y_score = np.array([0.2, 0.8, 0.6])
    roc = roc_points(y_true, y_score)
    assert roc[0]["fpr"] == 0.0 and roc[-1] == {"fpr": 1.0, "tpr": 1.0, "threshold": 0.2}
    assert confusion_rows(y_true, np.array([0, 1, 0])) == [
        {"actual": 0, "predicted": 0},
        {"actual": 1, "predicted": 1},
        {"actual": 1, "predicted": 0},
    ]


def test_an_incomplete_model_folder_names_the_missing_file(tmp_path) -> None:
    from tests.model_support import small_model
    from train.model_store import MANIFEST_FILE, META_FILE, SKLEARN_FILE, load_scorer

    (tmp_path / META_FILE).write_text('{"kind": "sklearn"}')
    with pytest.raises(PipelineError, match=r"manifest\.json: not found; refusing to load"):
        load_scorer(tmp_path, unlocked=True)  # the manifest is checked before anything is read
    small_model(tmp_path / "model")
    (tmp_path / "model" / SKLEARN_FILE).unlink()
    with pytest.raises(PipelineError, match=rf"model\.skops: listed in {MANIFEST_FILE} but missing"):
        load_scorer(tmp_path / "model", unlocked=True)
