"""The original two experiments, a grid through the queue, and comparing them, under real dvc.

The README's commands, run as written in a temp copy of the repository with small data. The
tests share that copy (the experiments take most of the time) and run in file order: each
starts from the baseline's params (``git checkout params.yaml``), as the README says.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import conftest
from tests.conftest import ROOT, Repo, copy_repo, params, performance, split_report

pytestmark = pytest.mark.integration

MORE_TEST_DATA = ("-S", "split.train=[0,7]", "-S", "split.valid=[7,8]", "-S", "split.test=[8,10]")
SVM = ("-S", "train.model=svm")


def run_experiment(repo: Repo, name: str, *options: str) -> str:
    """The README's one-liner, from the baseline's params (as after ``git checkout params.yaml``)."""
    repo.run("git", "checkout", "-q", "params.yaml")
    return repo.dvc("exp", "run", "-n", name, *options).stdout


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory, pipeline_template: Path) -> Iterator[Repo]:
    """A copy of the repository: the baseline committed on main, then the two original experiments."""
    repo = copy_repo(pipeline_template, tmp_path_factory.mktemp("experiments") / "repo")
    run_experiment(repo, "more-test-data", *MORE_TEST_DATA)
    run_experiment(repo, "svm", *SVM)
    yield repo


def test_exp_show_lists_both_original_experiments_with_their_params_and_own_metrics(
    experiments: Repo,
) -> None:
    found = experiments.experiments()
    main, svm, more = found["main"], found["svm"], found["more-test-data"]

    assert params(main)["train"]["model"] == "logreg"
    assert params(svm)["train"]["model"] == "svm"
    assert params(svm)["split"]["test"] == params(main)["split"]["test"] == [9, 10]
    assert params(more)["train"]["model"] == "logreg"
    assert (
        params(more)["split"]["train"],
        params(more)["split"]["valid"],
        params(more)["split"]["test"],
    ) == (
        [0, 7],
        [7, 8],
        [8, 10],
    )
    # The SVM scores the same test rows with its own model; more-test-data tests on twice the buckets.
    assert performance(svm)["accuracy"] != performance(main)["accuracy"]
    assert split_report(svm)["rows"] == split_report(main)["rows"]
    assert split_report(more)["rows"]["test"] > 1.5 * split_report(main)["rows"]["test"]
    assert split_report(more)["rows"]["train"] < split_report(main)["rows"]["train"]
    for data in (main, svm, more):
        assert set(performance(data)) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}


def test_make_experiments_shows_the_columns_worth_comparing_and_no_dependency_hashes(
    experiments: Repo,
) -> None:
    table = make(experiments, "experiments").stdout
    columns = next(line.split() for line in table.splitlines() if line.split()[:1] == ["Experiment"])
    assert {"Experiment", "accuracy", "roc_auc", "f1", "rows.test", "train.model", "split.test"} <= set(
        columns
    )
    # Dependency columns (`common`, `data/raw`, ...) and split diagnostics stay out of the way,
    # and so do the params every row has the same value of (--only-changed).
    assert not [c for c in columns if "/" in c or c in {"common", "train", "evaluate", "model"}]
    assert not [c for c in columns if c.startswith(("ks_distance", "distinct_keys", "dropped"))]
    assert not [c for c in columns if c in {"data.source", "split.modulus", "train.seed", "train.svm.C"}]
    assert "[svm]" in table and "[more-test-data]" in table


def test_make_experiments_fits_120_columns_with_the_models_and_their_test_scores(experiments: Repo) -> None:
    experiments.run("git", "checkout", "-q", "params.yaml")
    table = make(experiments, "experiments", columns=120).stdout
    assert max(len(line) for line in table.splitlines()) <= 120, table
    header = next(line.split() for line in table.splitlines() if line.split()[:1] == ["Experiment"])
    assert header[:5] == ["Experiment", "accuracy", "f1", "roc_auc", "train.model"], header
    assert "split.test" in header  # more-test-data's params differ from the others'
    found = experiments.experiments()
    for name, model in (("svm", "svm"), ("more-test-data", "logreg")):
        row = next(line for line in table.splitlines() if f"[{name}]" in line)
        # dvc exp show's precision: 5 significant digits.
        assert f"{performance(found[name])['accuracy']:.5g}" in row and f" {model} " in row, row

    # Wider, the same columns and more: never something else.
    wide = make(experiments, "experiments", columns=200).stdout
    wide_header = next(line.split() for line in wide.splitlines() if line.split()[:1] == ["Experiment"])
    assert set(header) < set(wide_header) and {"precision", "recall"} <= set(wide_header)

    # Every row with the same model (here the one commit before the baseline run): the model
    # column stays, though --only-changed drops every other param.
    alone = make(experiments, "experiments", columns=120, args="--rev HEAD~1 --hide-workspace").stdout
    alone_header = next(line.split() for line in alone.splitlines() if line.split()[:1] == ["Experiment"])
    assert alone_header == ["Experiment", "accuracy", "f1", "roc_auc", "train.model"], alone
    assert " logreg " in alone


def test_metrics_diff_params_diff_and_exp_branch_between_main_and_an_experiment(experiments: Repo) -> None:
    metrics = json.loads(experiments.dvc("metrics", "diff", "main", "svm", "--json").stdout)
    accuracy = metrics["metrics/model_performance.json"]["accuracy"]
    assert accuracy["old"] != accuracy["new"]
    assert "metrics/split.json" not in metrics  # same split: nothing changed there

    changed = json.loads(experiments.dvc("params", "diff", "main", "more-test-data", "--json").stdout)
    assert set(changed["params.yaml"]) == {"split.train", "split.valid", "split.test"}
    assert changed["params.yaml"]["split.test"] == {"old": "[9, 10]", "new": "[8, 10]"}  # as dvc prints them

    experiments.dvc("exp", "branch", "svm", "svm-model")
    assert "model: svm" in experiments.run("git", "show", "svm-model:params.yaml").stdout
    promoted = json.loads(experiments.run("git", "show", "svm-model:metrics/model_performance.json").stdout)
    assert promoted == performance(experiments.experiments()["svm"])


def test_rerunning_an_identical_experiment_gives_identical_metrics(experiments: Repo) -> None:
    output = run_experiment(experiments, "svm-again", "--force", *SVM)
    # --force runs every stage again instead of restoring the outputs from the run cache.
    assert "Running stage 'train'" in output and "Running stage 'evaluate'" in output
    found = experiments.experiments()
    assert performance(found["svm-again"]) == performance(found["svm"])
    # Not just the metrics: every metrics and plot file, and the model and data, bit for bit.
    metrics = json.loads(experiments.dvc("metrics", "diff", "svm", "svm-again", "--all", "--json").stdout)
    values = [value for per_file in metrics.values() for value in per_file.values()]
    assert values and all(value["old"] == value["new"] for value in values)
    assert json.loads(experiments.dvc("diff", "svm", "svm-again", "--json").stdout) == {}
    # ...where the same command does see the SVM's model differ from main's.
    against_main = json.loads(experiments.dvc("diff", "main", "svm", "--json").stdout)
    assert "model/" in [entry["path"] for entry in against_main["modified"]]


def test_make_compare_prints_markdown_of_the_workspace_against_main(experiments: Repo) -> None:
    experiments.dvc("exp", "apply", "svm")
    markdown = make(experiments, "compare").stdout
    assert "### Params (main vs workspace)" in markdown
    lines = squeeze(markdown)
    assert "| params.yaml | train.model | logreg | svm |" in lines
    assert "### Metrics (main vs workspace)" in markdown
    assert any(line.startswith("| metrics/model_performance.json | accuracy |") for line in lines)
    assert sum(line.startswith("|---") for line in lines) == 3  # three GitHub markdown tables
    # The experiments: the base named by its branch, the model, the params that differ, the scores.
    experiments_table = markdown[markdown.index("### Experiments") :]
    header = next(line for line in squeeze(experiments_table) if line.startswith("| Experiment"))
    assert (
        header
        == "| Experiment | train.model | split.train | split.valid | split.test | accuracy | f1 | roc_auc |"
    )
    accuracy = performance(experiments.experiments()["svm"])["accuracy"]
    assert any(
        line.startswith("| main / svm | svm | [0, 8] |") and f"| {accuracy:.4f} |" in line
        for line in squeeze(experiments_table)
    )
    assert any(line.startswith("| main | logreg |") for line in squeeze(experiments_table))
    assert "| main / more-test-data | logreg | [0, 7] | [7, 8] | [8, 10] |" in " ".join(
        squeeze(experiments_table)
    )


def test_a_grid_through_the_queue(experiments: Repo) -> None:
    experiments.run("git", "checkout", "-q", "params.yaml")
    experiments.dvc("exp", "run", "--queue", "-S", "train.logreg.C=0.1,10")
    try:
        start_queue(experiments)
        deadline = time.monotonic() + 240
        stalled_since, restarted = None, False
        while time.monotonic() < deadline:  # poll until both tasks are done
            status = experiments.dvc("queue", "status").stdout
            if not any(state in status for state in ("Queued", "Running")):
                break
            # DVC's worker can stop with tasks still queued (treeverse/dvc#10562). After 20 s
            # of that (workers take a few to register), the README's advice, once: start again.
            stalled = "Running" not in status and "0 active" in status
            stalled_since = (stalled_since or time.monotonic()) if stalled else None
            if stalled_since and time.monotonic() - stalled_since > 20 and not restarted:
                start_queue(experiments)
                restarted = True
            time.sleep(1)
    finally:
        experiments.dvc("queue", "stop", "--kill", check=False)
    assert status.count("Success") == 2, status
    found = experiments.experiments()
    grid = {params(d)["train"]["logreg"]["C"]: performance(d) for d in found.values()}
    assert {0.1, 10} <= set(grid)
    assert grid[0.1] != grid[10]


def test_make_promote_right_after_dvc_exp_run_and_never_over_your_own_changes(experiments: Repo) -> None:
    run_experiment(experiments, "nb", "-S", "train.model=nb")
    expected = performance(experiments.experiments()["nb"])
    readme = experiments.path / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nmy own notes\n")
    try:
        refused = make(experiments, "promote", check=False, EXP="nb", BRANCH="nb-model")
        assert refused.returncode != 0
        assert "changes of your own, not an experiment's: README.md" in refused.stderr
        assert readme.read_text().endswith("my own notes\n")  # nothing lost, nothing switched
        assert experiments.run("git", "branch", "--show-current").stdout.strip() == "main"
        assert "nb-model" not in experiments.run("git", "branch", "--list").stdout

        readme.write_text(original)
        promoted = make(experiments, "promote", EXP="nb", BRANCH="nb-model")
        assert "experiment nb is branch nb-model" in promoted.stdout
        assert experiments.run("git", "branch", "--show-current").stdout.strip() == "nb-model"
        assert experiments.run("git", "status", "--porcelain").stdout == ""
        assert experiments.params()["train"]["model"] == "nb"
        assert "Data and pipelines are up to date" in experiments.dvc("status").stdout
        shown = json.loads((experiments.path / "metrics/model_performance.json").read_text())
        assert shown == expected
    finally:
        readme.write_text(original)
        experiments.run("git", "checkout", "-q", "-f", "main")
        experiments.dvc("checkout", "--quiet")


def start_queue(repo: Repo) -> None:
    """``dvc queue start -j 2``, not waiting for its workers: they are forked from it and would
    hold its output pipes open until they exit (and a stuck one, for ever)."""
    subprocess.run(
        ["dvc", "queue", "start", "-j", "2"],
        cwd=repo.path,
        env=conftest.tool_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )


def squeeze(markdown: str) -> list[str]:
    """Markdown table lines with runs of spaces collapsed, to compare cells, not padding."""
    return [" ".join(line.split()) for line in markdown.splitlines()]


def make(
    repo: Repo, target: str, columns: int = 1000, args: str = "", check: bool = True, **variables: str
) -> Any:
    """``make target`` in the copy, with this checkout's installed environment, for a terminal
    ``columns`` wide (by default wide enough that no column is left out)."""
    venv = Path(ROOT / ".venv")
    assigned = [f"{name}={value}" for name, value in variables.items()]
    return repo.run(
        "env",
        f"COLUMNS={columns}",
        "make",
        "--no-print-directory",
        f"VENV={venv}",
        "-o",
        f"{venv}/.installed",
        target,
        f"ARGS={args}",
        *assigned,
        check=check,
    )
