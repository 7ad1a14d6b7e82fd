"""The pull-request report (.github/workflows/pr-report.yml): `make compare` and the changed plots.

``render`` writes ``<out>/report.md``: a hidden marker, the output of ``make compare`` (params,
metrics and experiments against the base branch), and an image per plot of ``dvc.yaml`` whose
data differ between the base revision and the workspace, rendered to ``<out>/<plot>.png``
from the Vega-Lite that ``dvc plots diff`` makes (vl-convert: no browser, no network). The
markdown links each image at ``--image-url``/``<plot>.png``, where the workflow publishes them.

``experiments`` prints the Experiments table of ``make compare``: one row per experiment of the
base revision and of the pull request's head (``dvc exp show --json``, from the ``refs/exps``
the workflow fetched), plus the base itself, named by its branch, and the workspace: the model,
the params that differ between those rows, and the test accuracy, F1 and ROC AUC.

``recolour`` gives each revision one colour across every chart of a ``dvc plots diff`` page
(``make plots``), as ``render`` does for the report's images.

``post`` puts the report on the pull request: it edits the comment that carries the marker,
or creates one, so each push updates the same comment (GitHub's REST API; ``GITHUB_TOKEN``,
``GITHUB_API_URL`` and ``GITHUB_REPOSITORY`` as GitHub Actions sets them).

    python scripts/pr_report.py render --base origin/main --compare compare.md --out pr-report \\
        --image-url https://github.com/OWNER/REPO/raw/pr-reports/pr-7/SHA
    python scripts/pr_report.py post --pr 7 --body pr-report/report.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- pr-report: dvc pipeline -->"
WORKSPACE = "workspace"


HEADLINE = ("accuracy", "f1", "roc_auc")
PERFORMANCE = "metrics/model_performance.json"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"model": "svm"}}`` as ``{"train.model": "svm"}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def experiment_rows(
    shown: list[dict[str, Any]], base_name: str
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, flat params, model_performance) of each row of ``dvc exp show --json``: the
    workspace, each baseline (the first one named ``base_name``), then its experiments."""
    rows = []

    def add(name: str, data: dict[str, Any] | None) -> None:
        data = data or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        scores = ((data.get("metrics") or {}).get(PERFORMANCE) or {}).get("data") or {}
        rows.append((name, flatten(params), scores))

    baselines = [entry for entry in shown if entry.get("rev") != WORKSPACE]
    for entry in shown:
        if entry.get("rev") == WORKSPACE:
            add(WORKSPACE, entry.get("data"))
    for index, entry in enumerate(baselines):
        label = base_name if index == 0 else entry.get("name") or str(entry.get("rev", ""))[:7]
        add(label, entry.get("data"))
        for experiment in entry.get("experiments") or []:
            revision = (experiment.get("revs") or [{}])[0]
            name = experiment.get("name") or revision.get("name") or str(revision.get("rev", ""))[:7]
            add(f"{label} / {name}", revision.get("data"))
    return rows


def cell(value: Any, score: bool = False) -> str:
    if value is None:
        return "-"
    if score and isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value).replace("|", "\\|")


def experiments_markdown(shown: list[dict[str, Any]], base_name: str) -> str:
    """The Experiments table: name, model, the params that differ between the rows, test scores."""
    rows = experiment_rows(shown, base_name)
    experiments = sum(" / " in name for name, _, _ in rows)
    if not experiments:
        note = f"No experiments of `{base_name}` or of this branch in `refs/exps` (`dvc exp push origin <name>` shares one)."
    else:
        note = f"{experiments} experiment(s) found in `refs/exps` (`dvc exp push` shares them)."
    keys = [key for key in dict.fromkeys(k for _, params, _ in rows for k in params) if key != "train.model"]
    changed = [key for key in keys if len({json.dumps(params.get(key)) for _, params, _ in rows}) > 1]
    header = ["Experiment", "train.model", *changed, *HEADLINE]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, params, scores in rows:
        values = [
            cell(value) for value in (name, params.get("train.model"), *(params.get(k) for k in changed))
        ]
        values += [cell(scores.get(metric), score=True) for metric in HEADLINE]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join([*lines, "", note]) + "\n"


def exp_show(revisions: list[str], cwd: Path = Path(".")) -> list[dict[str, Any]]:
    command = ["dvc", "exp", "show", "--json", "--hide-queued", "--hide-failed"]
    for revision in revisions:
        command += ["--rev", revision]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def plots_diff(base: str, cwd: Path = Path(".")) -> dict[str, dict[str, Any]]:
    """``dvc plots diff <base> --json``: each plot's Vega-Lite spec, both revisions' rows inlined."""
    result = subprocess.run(
        ["dvc", "plots", "diff", base, "--json"], cwd=cwd, capture_output=True, text=True, check=True
    )
    shown = json.loads(result.stdout)
    return {plot: renders[0]["content"] for plot, renders in shown.get("data", {}).items() if renders}


def rows_by_revision(spec: dict[str, Any]) -> dict[str, list[str]]:
    """The rows a spec draws for each revision, as sorted canonical JSON (order-free)."""
    rows: dict[str, list[str]] = {}
    for row in spec.get("data", {}).get("values", []):
        fields = {key: value for key, value in row.items() if key != "rev"}
        rows.setdefault(str(row.get("rev")), []).append(json.dumps(fields, sort_keys=True))
    return {rev: sorted(values) for rev, values in rows.items()}


# DVC's palette (dvc_render), in its order: the first revision gets the first colour.
PALETTE = ("#945dd6", "#13adc7", "#f46837", "#48bb78", "#4299e1", "#ed8936", "#f56565")


def revisions_of(specs: dict[str, dict[str, Any]]) -> list[str]:
    """Every revision drawn on the page, in order of first appearance."""
    found: dict[str, None] = {}
    for spec in specs.values():
        for row in spec.get("data", {}).get("values", []):
            found.setdefault(str(row.get("rev")), None)
    return list(found)


def _recolour(node: Any, scale: dict[str, Any]) -> None:
    if isinstance(node, dict):
        color = node.get("color")
        if isinstance(color, dict) and color.get("field") == "rev":
            color["scale"] = dict(scale)
        for value in node.values():
            _recolour(value, scale)
    elif isinstance(node, list):
        for value in node:
            _recolour(value, scale)


def same_colours(specs: dict[str, dict[str, Any]], revisions: list[str]) -> dict[str, dict[str, Any]]:
    """The specs with one colour per revision across all of them (and the panels of a chart
    faceted by revision in the same order). DVC gives each chart the
    palette in the order of the revisions *that chart* has data for, so a revision without rows
    in one chart (a scikit-learn model has no learning rate) shifts the others' colours there."""
    colours = [PALETTE[index % len(PALETTE)] for index in range(len(revisions))]
    scale = {"domain": revisions, "range": colours}
    for spec in specs.values():
        _recolour(spec, scale)
        column = spec.get("facet", {}).get("column")
        if isinstance(column, dict) and column.get("field") == "rev":
            column["sort"] = list(revisions)  # a panel per revision, in the same order
    return specs


SPEC_LINE = re.compile(r"^(\s*var spec = )(\{.*\});\s*$")


def recolour_page(page: Path) -> int:
    """``same_colours`` on the page ``dvc plots diff --out`` writes (a ``var spec = {...};``
    line per plot); return how many plots it holds."""
    lines = page.read_text().splitlines(keepends=True)
    found = {index: SPEC_LINE.match(line) for index, line in enumerate(lines)}
    specs = {str(index): json.loads(match[2]) for index, match in found.items() if match}
    same_colours(specs, revisions_of(specs))
    for index, spec in specs.items():
        match = found[int(index)]
        assert match is not None
        lines[int(index)] = f"{match[1]}{json.dumps(spec)};\n"
    temp = page.with_name(f".{page.name}.tmp")
    temp.write_text("".join(lines))
    temp.replace(page)
    return len(specs)


def changed_plots(specs: dict[str, dict[str, Any]], base: str) -> list[str]:
    """The plots whose data differ between ``base`` and the workspace, in dvc.yaml's order."""
    changed = []
    for plot, spec in specs.items():
        rows = rows_by_revision(spec)
        if rows.get(base, []) != rows.get(WORKSPACE, []):
            changed.append(plot)
    return changed


def render_png(spec: dict[str, Any], scale: float = 2.0) -> bytes:
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(spec, scale=scale))


def plot_title(spec: dict[str, Any], plot: str) -> str:
    title = spec.get("title", plot)
    if isinstance(title, dict):
        title = title.get("text", plot)
    return str(title)


def report_markdown(compare: str, images: list[tuple[str, str]], image_url: str, base: str) -> str:
    """The comment: marker, ``make compare``'s markdown, then the changed plots as images."""
    lines = [MARKER, f"## DVC pipeline: this pull request against `{base}`", "", compare.strip(), ""]
    lines.append(f"### Changed plots ({base} and workspace in one chart each)")
    lines.append("")
    if not images:
        lines.append(f"No plot's data differ from `{base}`.")
    for plot, title in images:
        lines += [f"**{title}**", "", f"![{plot}]({image_url.rstrip('/')}/{plot}.png)", ""]
    return "\n".join(lines).rstrip() + "\n"


def rename_revision(specs: dict[str, dict[str, Any]], old: str, new: str) -> None:
    """Rows of revision ``old`` (``origin/main``) drawn as ``new`` (``main``)."""
    for spec in specs.values():
        for row in spec.get("data", {}).get("values", []):
            if row.get("rev") == old:
                row["rev"] = new


def base_name_of(base: str) -> str:
    """``origin/main`` -> ``main``: the branch a pull request targets, as people call it."""
    return base.removeprefix("origin/")


def render(
    base: str, compare: Path, out: Path, image_url: str, cwd: Path = Path("."), base_name: str | None = None
) -> list[str]:
    """Write ``out/report.md`` and a PNG per changed plot; return the changed plots."""
    specs = plots_diff(base, cwd)
    name = base_name or base_name_of(base)
    rename_revision(specs, base, name)
    base = name
    specs = same_colours(specs, list(dict.fromkeys([base, *revisions_of(specs)])))
    changed = changed_plots(specs, base)
    out.mkdir(parents=True, exist_ok=True)
    for plot in changed:
        (out / f"{plot}.png").write_bytes(render_png(specs[plot]))
    images = [(plot, plot_title(specs[plot], plot)) for plot in changed]
    (out / "report.md").write_text(report_markdown(compare.read_text(), images, image_url, base))
    return changed


def github(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def find_report_comment(api: str, repo: str, pr: int, token: str) -> int | None:
    """The id of the pull request's comment that carries the marker, if any."""
    page = 1
    while True:
        url = f"{api}/repos/{repo}/issues/{pr}/comments?per_page=100&page={page}"
        comments = github("GET", url, token)
        for comment in comments:
            if MARKER in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < 100:
            return None
        page += 1


def post(api: str, repo: str, pr: int, token: str, body: str) -> tuple[str, int]:
    """Update the report comment, or create it; return ("updated" or "created", its id)."""
    existing = find_report_comment(api, repo, pr, token)
    if existing is not None:
        github("PATCH", f"{api}/repos/{repo}/issues/comments/{existing}", token, {"body": body})
        return "updated", existing
    created = github("POST", f"{api}/repos/{repo}/issues/{pr}/comments", token, {"body": body})
    return "created", int(created["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rendering = commands.add_parser("render", help="report.md and the changed plots' PNGs")
    rendering.add_argument("--base", required=True, help="git revision to compare with (origin/main)")
    rendering.add_argument("--compare", type=Path, required=True, help="file with `make compare`'s output")
    rendering.add_argument("--out", type=Path, required=True, help="folder for report.md and the PNGs")
    rendering.add_argument("--image-url", required=True, help="URL of the folder the PNGs are published in")
    rendering.add_argument(
        "--base-name", help="the base's name in the report (default: --base without origin/)"
    )
    listing = commands.add_parser("experiments", help="the Experiments table of `make compare`")
    listing.add_argument("--base", required=True, help="the base revision (origin/main)")
    listing.add_argument("--base-name", required=True, help="its name in the table (main)")
    listing.add_argument("--head", default="HEAD", help="the revision whose experiments are listed too")
    page = commands.add_parser("recolour", help="one colour per revision on a `dvc plots diff` page")
    page.add_argument("page", type=Path, help="the page, dvc_plots/index.html")
    posting = commands.add_parser("post", help="create or update the pull request's report comment")
    posting.add_argument("--pr", type=int, required=True)
    posting.add_argument("--body", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "recolour":
        print(f"pr_report: {recolour_page(args.page)} plot(s), one colour per revision: {args.page}")
        return 0
    if args.command == "experiments":
        revisions = list(dict.fromkeys([args.base, args.head]))
        print(experiments_markdown(exp_show(revisions), args.base_name), end="")
        return 0
    if args.command == "render":
        changed = render(args.base, args.compare, args.out, args.image_url, base_name=args.base_name)
        print(f"pr_report: {len(changed)} changed plot(s): {', '.join(changed) or 'none'}")
        return 0
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    action, comment = post(
        api, os.environ["GITHUB_REPOSITORY"], args.pr, os.environ["GITHUB_TOKEN"], args.body.read_text()
    )
    print(f"pr_report: {action} comment {comment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
