"""``dvc plots diff`` of several experiments, loaded in a real headless Chromium.

Every plot of dvc.yaml's top-level ``plots:`` must be on the page with its title, axis
labels, one line or facet per revision, and drawn marks; the page must log no errors and
load nothing but itself (vega is inlined by plots/offline_template.html: no network here).

Playwright drives Debian's ``chromium`` (``make chromium``) through ``executable_path``:
no browser download (never ``playwright install``).
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import ConsoleMessage, Error, Request, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import Repo

pytestmark = pytest.mark.integration

# Debian's package; CHROMIUM names another Chromium-based browser (as the Makefile does).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Playwright's own switches already keep the browser off the network and the profile
# (--disable-background-networking, --disable-component-update, --disable-sync, ...); these
# add the rest, and a proxy that answers nothing, so that a request the route below missed
# still could not leave the machine.
ARGS = ["--disable-gpu", "--disable-quic", "--proxy-server=http://127.0.0.1:9"]

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
INSPECT_PLOTS = """() => Object.fromEntries(Array.from(document.querySelectorAll('body > div[id]')).map(div => {
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
}))"""
# True once every expected plot is on the page and every plot has drawn marks.
ALL_DRAWN = f"""names => {{
  const plots = ({INSPECT_PLOTS})();
  return names.every(name => name in plots) && Object.values(plots).every(plot => plot.marks > 0);
}}"""


@dataclass
class Visit:
    """What one page did in the browser: its requests, those blocked, its errors, its plots."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    drawn: dict[str, Any] = field(default_factory=dict)

    def route(self, route: Route) -> None:
        """Offline: the page's own files load, anything else is refused and recorded."""
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        # console.error() and the browser's own error entries (a failed load, a CSP refusal)
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error}")


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


def three_experiments(repo_factory: Any) -> tuple[Repo, list[str]]:
    """The built repository with two experiments beside main: an SVM and a small torch model."""
    repo = repo_factory(built=True)
    repo.dvc("exp", "run", "-n", "svm", "-S", "train.model=svm")
    repo.run("git", "checkout", "-q", "params.yaml")
    repo.dvc("exp", "run", "-n", "small-torch", *TORCH)
    return repo, ["main", "svm", "small-torch"]


def open_in_chromium(page_file: Path, names: list[str], screenshot: Path) -> Visit:
    """Load the page offline, wait until every plot in ``names`` has drawn, inspect it and
    save a screenshot of the whole page; the browser's profile is a temporary one."""
    visit = Visit()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(service_workers="block")
            context.route("**/*", visit.route)
            context.on("request", visit.on_request)
            page = context.new_page()
            page.on("console", visit.on_console)
            page.on("pageerror", visit.on_page_error)
            page.on("websocket", lambda socket: visit.requests.append(socket.url))
            page.on("crash", lambda _: visit.errors.append("the page crashed"))
            page.goto(page_file.as_uri(), wait_until="load", timeout=60_000)
            with suppress(PlaywrightTimeoutError):  # the assertions name what did not draw
                page.wait_for_function(ALL_DRAWN, arg=names, polling=100, timeout=60_000)
            visit.drawn = page.evaluate(INSPECT_PLOTS)
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    return visit


def assert_every_plot_labelled(drawn: dict[str, Any], expected: dict[str, Any], revisions: list[str]) -> None:
    """Each plot: an SVG with marks, dvc.yaml's title and axis labels, and each revision named."""
    for name, props in expected.items():
        plot = drawn[name]
        assert plot["svg"], name
        assert plot["marks"] > 0, name
        assert plot["title"][-1] == props["title"], name
        assert {props["x_label"], props["y_label"]} <= set(plot["axis_titles"]), name
        drawn_revisions = ["small-torch"] if name in TORCH_ONLY else revisions
        for revision in drawn_revisions:  # a line or a facet per experiment, named
            assert revision in plot["text"], (name, revision)


def assert_marks_counted(drawn: dict[str, Any]) -> None:
    """The number of lines, points and bars each plot must draw for the three experiments."""
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


def test_plots_diff_of_three_experiments_draws_every_plot_in_headless_chromium(
    chromium_installed: None, repo_factory: Any, tmp_path: Path
) -> None:
    repo, revisions = three_experiments(repo_factory)
    out = tmp_path / "dvc_plots"
    repo.dvc("plots", "diff", *revisions, "--out", str(out))
    page_file = out / "index.html"
    assert "<script src=" not in page_file.read_text()  # .dvc/config's template: vega inlined, not from a CDN
    expected = top_level_plots(repo)

    screenshot = tmp_path / "plots.png"
    visit = open_in_chromium(page_file, sorted(expected), screenshot)
    print(f"screenshot: {screenshot}")  # shown with `pytest -s`; kept in pytest's temp folder

    assert visit.errors == []
    assert visit.requests == [page_file.as_uri()]  # the page itself, nothing from the network
    assert visit.blocked == []
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(visit.drawn) == set(expected)
    assert_every_plot_labelled(visit.drawn, expected, revisions)
    assert_marks_counted(visit.drawn)
