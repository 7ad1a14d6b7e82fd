"""The pull-request report (scripts/pr_report.py, .github/workflows/pr-report.yml), run here.

GitHub Actions itself cannot run here: the rendering runs on a real pull-request-like branch
of a repository copy, and the comment is posted to a fake GitHub API on 127.0.0.1.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from scripts.pr_report import (
    MARKER,
    changed_plots,
    experiments_markdown,
    post,
    recolour_page,
    report_markdown,
)
from tests.conftest import ROOT, Repo

SVM_CHANGES = {"confusion", "roc", "precision_recall", "training_loss", "validation_accuracy"}


def spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": "t", "data": {"values": rows}}


def test_a_plot_is_changed_when_its_rows_differ_between_base_and_workspace() -> None:
    same = [{"x": 1, "y": 2, "rev": "main"}, {"x": 1, "y": 2, "rev": "workspace"}]
    reordered = [{"x": 1, "rev": "main"}, {"x": 2, "rev": "main"}, {"x": 2, "rev": "workspace"}]
    reordered.append({"x": 1, "rev": "workspace"})
    moved = [{"x": 1, "y": 2, "rev": "main"}, {"x": 1, "y": 3, "rev": "workspace"}]
    new = [{"x": 1, "y": 2, "rev": "workspace"}]
    specs = {"same": spec(same), "reordered": spec(reordered), "moved": spec(moved), "new": spec(new)}
    assert changed_plots(specs, "main") == ["moved", "new"]


def test_the_report_links_each_changed_plot_under_the_image_url() -> None:
    body = report_markdown("### Params\n", [("roc", "ROC curve")], "https://host/pr-7/abc/", "main")
    assert body.startswith(MARKER + "\n")
    assert "![roc](https://host/pr-7/abc/roc.png)" in body and "**ROC curve**" in body
    assert "No plot's data differ" in report_markdown("x", [], "https://host", "main")


def test_a_revision_keeps_its_colour_in_a_chart_where_the_others_have_no_rows(tmp_path: Path) -> None:
    # As dvc plots diff main torch writes them: the learning rate has torch's rows only, so
    # DVC's scale gives torch the first colour there and the second in the loss chart.
    loss = {
        "data": {"values": [{"rev": "main", "y": 1}, {"rev": "torch", "y": 2}]},
        "encoding": {
            "color": {"field": "rev", "scale": {"domain": ["main", "torch"], "range": ["#a", "#b"]}}
        },
    }
    rate = {
        "data": {"values": [{"rev": "torch", "y": 3}]},
        "layer": [{"encoding": {"color": {"field": "rev", "scale": {"domain": ["torch"], "range": ["#a"]}}}}],
    }
    page = tmp_path / "index.html"
    page.write_text(
        f"<html>\n    var spec = {json.dumps(loss)};\n<p>\n    var spec = {json.dumps(rate)};\n</html>\n"
    )
    assert recolour_page(page) == 2
    specs = [
        json.loads(line.split("= ", 1)[1].rstrip(";"))
        for line in page.read_text().splitlines()
        if "var spec" in line
    ]
    scales = [specs[0]["encoding"]["color"]["scale"], specs[1]["layer"][0]["encoding"]["color"]["scale"]]
    assert scales[0] == scales[1] == {"domain": ["main", "torch"], "range": ["#945dd6", "#13adc7"]}
    assert page.read_text().startswith("<html>\n") and page.read_text().endswith("</html>\n")


def shown(model: str, c: float, accuracy: float) -> dict[str, Any]:
    """One revision's data as `dvc exp show --json` gives it."""
    params = {"train": {"model": model, "seed": 42, "logreg": {"C": c}}, "split": {"test": [9, 10]}}
    scores = {"accuracy": accuracy, "f1": 0.5, "roc_auc": 0.75, "precision": 0.1, "true_negative": 0.2}
    return {
        "params": {"params.yaml": {"data": params}},
        "metrics": {"metrics/model_performance.json": {"data": scores}},
    }


def test_the_experiments_table_names_the_base_by_its_branch_and_shows_what_differs() -> None:
    experiment = {"name": "svm", "revs": [{"rev": "b" * 40, "name": "svm", "data": shown("svm", 1.0, 0.8)}]}
    table = experiments_markdown(
        [
            {"rev": "workspace", "name": None, "data": shown("logreg", 10.0, 0.7)},
            # A GTO tag on the base commit: the row is still named by the branch.
            {"rev": "a" * 40, "name": "sentiment-classifier@v1.0.0", "data": shown("logreg", 1.0, 0.6)},
        ],
        "main",
    )
    assert "No experiments of `main`" in table
    table = experiments_markdown(
        [
            {"rev": "workspace", "data": shown("logreg", 10.0, 0.7)},
            {
                "rev": "a" * 40,
                "name": "sentiment-classifier@v1.0.0",
                "data": shown("logreg", 1.0, 0.6),
                "experiments": [experiment],
            },
        ],
        "main",
    )
    lines = table.splitlines()
    assert lines[0] == "| Experiment | train.model | train.logreg.C | accuracy | f1 | roc_auc |"
    assert lines[2:5] == [
        "| workspace | logreg | 10.0 | 0.7000 | 0.5000 | 0.7500 |",
        "| main | logreg | 1.0 | 0.6000 | 0.5000 | 0.7500 |",
        "| main / svm | svm | 1.0 | 0.8000 | 0.5000 | 0.7500 |",
    ]
    assert "1 experiment(s) found in `refs/exps`" in table


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.integration
def test_render_on_a_pull_request_branch(built_repo: Repo, tmp_path: Path) -> None:
    repo = built_repo  # main's pipeline run, committed
    repo.run("git", "checkout", "-q", "-b", "svm")
    repo.set_params(train={"model": "svm"})
    repo.dvc("repro")
    venv = ROOT / ".venv"
    compare = repo.run("make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed", "compare")
    (tmp_path / "compare.md").write_text(compare.stdout)
    out = tmp_path / "report"
    rendered = repo.run(
        sys.executable,
        "scripts/pr_report.py",
        "render",
        "--base",
        "main",
        "--compare",
        str(tmp_path / "compare.md"),
        "--out",
        str(out),
        "--image-url",
        "https://github.com/o/r/raw/pr-reports/pr-1/abc",
    )
    assert "changed plot(s)" in rendered.stdout

    body = (out / "report.md").read_text()
    assert body.startswith(MARKER)
    lines = [" ".join(line.split()) for line in body.splitlines()]
    assert "| params.yaml | train.model | logreg | svm |" in lines
    assert any(line.startswith("| metrics/model_performance.json | accuracy |") for line in lines)
    assert "### Experiments" in body
    # The plots whose data the SVM changed, and only those (the split and the schedule are the same).
    assert {path.stem for path in out.glob("*.png")} == SVM_CHANGES
    for plot in SVM_CHANGES:
        assert f"![{plot}](https://github.com/o/r/raw/pr-reports/pr-1/abc/{plot}.png)" in body
        width, height = png_size((out / f"{plot}.png").read_bytes())
        assert width > 300 and height > 200, plot


class FakeGitHub(BaseHTTPRequestHandler):
    """Issue comments of one pull request, as GitHub's REST API serves them (paginated)."""

    comments: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> dict[str, Any]:
        assert self.headers["Authorization"] == "Bearer secret-token"
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        assert self.headers["Authorization"] == "Bearer secret-token"
        path, _, query = self.path.partition("?")
        assert path == "/repos/o/r/issues/7/comments"
        args = dict(part.split("=") for part in query.split("&"))
        page, size = int(args["page"]), int(args["per_page"])
        self.reply(200, self.comments[(page - 1) * size : page * size])

    def do_POST(self) -> None:
        assert self.path == "/repos/o/r/issues/7/comments"
        comment = {"id": 1000 + len(self.comments), "body": self.body()["body"]}
        self.comments.append(comment)
        self.reply(201, comment)

    def do_PATCH(self) -> None:
        comment_id = int(self.path.rsplit("/", 1)[1])
        (comment,) = [c for c in self.comments if c["id"] == comment_id]
        comment["body"] = self.body()["body"]
        self.reply(200, comment)


@pytest.fixture
def github_api() -> Iterator[str]:
    FakeGitHub.comments = [{"id": i, "body": f"review comment {i}"} for i in range(100)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


def test_each_push_updates_the_same_comment(github_api: str) -> None:
    # 100 other comments first: the report's own is on the second page.
    first = post(github_api, "o/r", 7, "secret-token", f"{MARKER}\nfirst push\n")
    assert first[0] == "created"
    second = post(github_api, "o/r", 7, "secret-token", f"{MARKER}\nsecond push\n")
    assert second == ("updated", first[1])
    reports = [c for c in FakeGitHub.comments if MARKER in c["body"]]
    assert reports == [{"id": first[1], "body": f"{MARKER}\nsecond push\n"}]
    assert len(FakeGitHub.comments) == 101
    assert all(c["body"] == f"review comment {c['id']}" for c in FakeGitHub.comments[:100])
