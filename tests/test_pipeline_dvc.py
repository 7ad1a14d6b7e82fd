"""The whole pipeline under real dvc in a temp copy of the repository."""

from __future__ import annotations

import itertools
import json

import pyarrow.parquet as pq
import pytest

from tests.conftest import Repo, params, performance

pytestmark = pytest.mark.integration

STAGES = ("get_data", "prepare_data", "train", "evaluate")


def ran_stages(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def test_repro_then_changes_rerun_exactly_the_dependent_stages(repo: Repo) -> None:
    first = repo.dvc("repro")
    assert ran_stages(first.stdout) == list(STAGES)

    for split in ("train", "valid", "test"):
        table = pq.read_table(repo.path / "data/prepared" / f"{split}.parquet")
        assert table.num_rows > 0
        assert {"PhraseId", "SentenceId", "Phrase", "Sentiment", "label"} <= set(table.column_names)
        assert set(table["label"].to_pylist()) <= {0, 1}
    performance = json.loads((repo.path / "metrics/model_performance.json").read_text())
    assert 0.6 < performance["accuracy"] <= 1.0
    assert performance["true_negative"] + performance["false_positive"] == pytest.approx(1.0)
    split = json.loads((repo.path / "metrics/split.json").read_text())
    assert split["leakage"]["keys_in_several_splits"] == 0
    assert (repo.path / "model/meta.json").is_file()

    assert ran_stages(repo.dvc("repro").stdout) == []

    repo.set_params(train={"logreg": {"C": 10.0, "max_iter": 1000}})
    assert ran_stages(repo.dvc("repro").stdout) == ["train", "evaluate"]

    repo.set_params(split={"modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]})
    assert ran_stages(repo.dvc("repro").stdout) == ["prepare_data", "train", "evaluate"]

    assert repo.dvc("status").stdout.strip() == "Data and pipelines are up to date."


def test_dag_and_experiment_with_svm(repo: Repo) -> None:
    dag = repo.dvc("dag", "--dot").stdout
    for upstream, downstream in itertools.pairwise(STAGES):
        assert f'"{upstream}" -> "{downstream}"' in dag

    repo.dvc("repro")
    repo.commit("baseline run")
    repo.dvc("exp", "run", "-n", "svm-test", "-S", "train.model=svm")
    experiments = repo.experiments()
    assert "svm-test" in experiments
    data = experiments["svm-test"]
    assert params(data)["train"]["model"] == "svm"
    metrics = performance(data)
    assert 0.5 < metrics["accuracy"] <= 1.0


def test_local_source_in_data_external_reruns_when_the_file_changes(repo: Repo) -> None:
    rows = ["PhraseId\tSentenceId\tPhrase\tSentiment"]
    words = {0: "dull flat tedious", 4: "brilliant warm moving"}
    for i in range(400):
        label = 0 if i % 2 else 4
        rows.append(f"{i + 1}\t{i // 4}\t{words[label]} take {i}\t{label}")
    source = repo.path / "data/external/reviews.tsv"
    source.write_text("\n".join(rows) + "\n")
    repo.set_params(data={"source": "data/external/reviews.tsv"})
    assert ran_stages(repo.dvc("repro").stdout) == list(STAGES)
    raw = repo.path / "data/raw/reviews.tsv"
    assert raw.read_bytes() == source.read_bytes()

    assert ran_stages(repo.dvc("repro").stdout) == []
    source.write_text("\n".join(rows[:201]) + "\n")
    assert "get_data" in ran_stages(repo.dvc("repro").stdout)
    assert raw.read_bytes() == source.read_bytes()
    assert json.loads((repo.path / "metrics/split.json").read_text())["rows"]["train"] < 200
