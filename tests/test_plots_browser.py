"""``dvc plots diff`` of several experiments, loaded in a real headless Chromium.

Every plot of dvc.yaml's top-level ``plots:`` must be on the page with its title, axis
labels, one line or facet per revision, and drawn marks; the page must log no errors and
load nothing but itself (vega is inlined by plots/offline_template.html: no network here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chromium_devtools import CHROMIUM, chromium, wait_for
from tests.conftest import Repo

pytestmark = pytest.mark.integration

# A small torch model, so that its training curves have several virtual epochs to draw, with
# the one_cycle schedule, whose learning rate and beta1 move both ways.
TORCH = (
    "-S", "train.model=torch",
    "-S", "train.torch.checkpoints=3",
    "-S", "train.torch.stop_point=1.5",
    "-S", "train.torch.schedule=one_cycle",
)  # fmt: skip
# Plots of the torch model's schedule: a scikit-learn model has none, so only it draws there.
TORCH_ONLY = {"learning_rate", "adam_beta1"}

# For each plot div: is there an SVG, how many drawn marks (paths with a shape, texts with
# content) inside vega's data-mark groups, the most vertices of one line, the number of
# points (symbols), and its texts.
INSPECT_PLOTS = """(() => Object.fromEntries(Array.from(document.querySelectorAll('body > div[id]')).map(div => {
  const marks = Array.from(div.querySelectorAll('g.role-mark > path, g.role-mark > text'))
    .filter(e => (e.getAttribute('d') || e.textContent || '').trim().length > 0);
  const lines = Array.from(div.querySelectorAll('g.mark-line.role-mark > path'))
    .map(p => (p.getAttribute('d') || '').split(/[ML]/).filter(s => s.trim()).length);
  const points = div.querySelectorAll('g.mark-symbol.role-mark > path').length;
  const texts = sel => Array.from(div.querySelectorAll(sel)).map(e => e.textContent);
  return [div.id, {
    svg: div.querySelector('svg') !== null,
    marks: marks.length,
    longest_line: Math.max(0, ...lines),
    points,
    title: texts('.role-title-text'),
    axis_titles: texts('.role-axis-title'),
    text: div.textContent,
  }];
})))()"""


@pytest.fixture(scope="module")
def chromium_installed() -> None:
    if not Path(CHROMIUM).is_file():
        message = f"{CHROMIUM} not found: `make test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def top_level_plots(repo: Repo) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((repo.path / "dvc.yaml").read_text())
    return {name: props for entry in config["plots"] for name, props in entry.items()}


def test_plots_diff_of_three_experiments_draws_every_plot_in_headless_chromium(
    chromium_installed: None, repo_factory: Any, tmp_path: Path
) -> None:
    repo = repo_factory(built=True)
    repo.dvc("exp", "run", "-n", "svm", "-S", "train.model=svm")
    repo.run("git", "checkout", "-q", "params.yaml")
    repo.dvc("exp", "run", "-n", "small-torch", *TORCH)
    revisions = ["main", "svm", "small-torch"]
    out = tmp_path / "dvc_plots"
    repo.dvc("plots", "diff", *revisions, "--out", str(out))
    page_html = (out / "index.html").read_text()
    assert "<script src=" not in page_html  # .dvc/config's template: vega inlined, not from a CDN

    with chromium() as browser:
        page = browser.new_page()
        page.call("Page.navigate", url=(out / "index.html").as_uri())
        assert wait_for(lambda: page.evaluate("document.readyState") == "complete", timeout=60)

        expected = top_level_plots(repo)

        def all_drawn() -> dict[str, Any] | None:
            plots = page.evaluate(INSPECT_PLOTS)
            return plots if set(expected) <= set(plots) and all(p["marks"] for p in plots.values()) else None

        drawn = wait_for(all_drawn, timeout=60) or page.evaluate(INSPECT_PLOTS)
        screenshot = page.screenshot(tmp_path / "plots.png")
        print(f"screenshot: {screenshot}")  # shown with `pytest -s`; kept in pytest's temp folder

        errors = [
            *(e for e in browser.page_events(page, "Runtime.consoleAPICalled") if e["type"] == "error"),
            *browser.page_events(page, "Runtime.exceptionThrown"),
            *(e for e in browser.page_events(page, "Log.entryAdded") if e["entry"]["level"] == "error"),
        ]
        requests = [e["request"]["url"] for e in browser.page_events(page, "Network.requestWillBeSent")]

    assert errors == []
    assert requests == [(out / "index.html").as_uri()]
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(drawn) == set(expected)
    for name, props in expected.items():
        plot = drawn[name]
        assert plot["svg"], name
        assert plot["marks"] > 0, name
        assert plot["title"][-1] == props["title"], name
        assert {props["x_label"], props["y_label"]} <= set(plot["axis_titles"]), name
        drawn_revisions = ["small-torch"] if name in TORCH_ONLY else revisions
        for revision in drawn_revisions:  # a line or a facet per experiment, named
            assert revision in plot["text"], (name, revision)
    # The torch experiment's curves have a point per virtual epoch, each scikit-learn model one:
    # 3 + 1 + 1 per curve, and the loss plot has two curves (train and valid) per experiment.
    assert drawn["training_loss"]["longest_line"] == 3
    assert drawn["validation_accuracy"]["longest_line"] == 3
    assert drawn["validation_accuracy"]["points"] == 5
    assert drawn["training_loss"]["points"] == 10
    assert drawn["learning_rate"]["longest_line"] == 3 and drawn["learning_rate"]["points"] == 3
    assert drawn["adam_beta1"]["longest_line"] == 3 and drawn["adam_beta1"]["points"] == 3
    # The positive share per split: a bar and its value per split and experiment (the three
    # share their data and split); the text length's CDF: a line per split and experiment.
    assert drawn["split_label_cdf"]["marks"] == 3 * 3 * 2 and "%" in drawn["split_label_cdf"]["text"]
    assert drawn["split_text_length_cdf"]["longest_line"] >= 10
    for name in ("split_label_cdf", "split_text_length_cdf"):
        assert all(split in drawn[name]["text"] for split in ("train", "valid", "test")), name
    assert drawn["roc"]["longest_line"] >= 3
    assert drawn["precision_recall"]["longest_line"] >= 3
    assert drawn["confusion"]["marks"] >= 3 * 4 * 2  # a 2x2 matrix per experiment, a number per cell
    assert re.search(r"\d+\.\d%\(\d+\)", drawn["confusion"]["text"].replace(" ", ""))
