"""The precision-recall plot data, and the offline plots page, on hand-checked cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from evaluate.metrics import precision_recall_points
from plots.build_offline_template import build_page
from tests.conftest import ROOT


def test_precision_recall_points_trace_the_curve_from_full_recall_to_none() -> None:
    y_true = np.array([0, 0, 1, 1])
    y_score = np.array([0.1, 0.4, 0.35, 0.8])
    points = precision_recall_points(y_true, y_score)
    # One point per threshold (each score), then the "above every score" end point.
    assert [(p["recall"], p["precision"], p["threshold"]) for p in points] == [
        (1.0, 0.5, 0.1),
        (1.0, 0.666667, 0.35),
        (0.5, 0.5, 0.4),
        (0.5, 1.0, 0.8),
        (0.0, 1.0, 1e9),
    ]


def test_precision_recall_points_keep_only_the_corners_of_the_curve() -> None:
    # Perfectly separated scores: the curve is flat at precision 1 while recall falls from 1
    # to 0; the 100 thresholds in between add nothing to the plot.
    y_true = np.array([0] * 100 + [1] * 100)
    y_score = np.linspace(0, 1, 200)
    points = precision_recall_points(y_true, y_score)
    assert len(points) < 10
    assert (points[0]["recall"], points[-1]["recall"]) == (1.0, 0.0)
    assert all(p["precision"] == 1.0 for p in points if p["recall"] < 1)


def test_every_plot_in_dvc_yaml_has_a_title_and_labelled_axes() -> None:
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    names = [name for entry in plots for name in entry]
    assert {
        "confusion",
        "roc",
        "precision_recall",
        "training_loss",
        "validation_accuracy",
        "learning_rate",
        "adam_beta1",
        "split_label_cdf",
        "split_text_length_cdf",
    } <= set(names)
    for entry in plots:
        for name, props in entry.items():
            assert props["title"] and props["x_label"] and props["y_label"], name


def test_offline_page_keeps_dvc_placeholders_and_loads_no_script_from_the_network() -> None:
    page = build_page([("fake-vega@1", "window.vega = {};"), ("fake-embed@1", "window.vegaEmbed = () => 0;")])
    assert "{plot_divs}" in page and "{refresh_tag}" in page
    assert "{scripts}" not in page  # where DVC would put its CDN <script src=...> tags
    assert page.index("fake-vega@1") < page.index("fake-embed@1") < page.index('renderer: "svg"')

    committed = (ROOT / "plots/offline_template.html").read_text()
    assert "{plot_divs}" in committed and "{scripts}" not in committed
    assert not re.search(r"<script[^>]+src=", committed)
    for package in ("vega@5", "vega-lite@5", "vega-embed@6"):
        assert f"/* {package}." in committed, package
    config = (ROOT / ".dvc/config").read_text()
    assert "html_template = ../plots/offline_template.html" in config


def test_a_script_that_would_end_the_script_element_is_refused() -> None:
    with pytest.raises(SystemExit, match="</script"):
        build_page([("bad@1", "var s = '</script>';")])
