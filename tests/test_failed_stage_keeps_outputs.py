"""A stage that fails on bad input data under ``dvc repro`` leaves the last good outputs
(issue 21, BUG 4). Every stage output is ``persist: true`` in dvc.yaml, so DVC no longer
deletes it before running the stage, and each stage replaces its outputs as one set only when
it succeeds (common/atomic.py). Real dvc, in a copy of the project; S3 on a moto server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prepare_data.synthetic import generate_reviews, to_tsv
from tests.conftest import Repo
from tests.s3_server import MotoServer

pytestmark = pytest.mark.integration

OUTPUTS = (
    "data/raw/reviews.tsv",
    "data/prepared/train.parquet",
    "data/prepared/test.parquet",
    "metrics/split.json",
    "metrics/split_label_cdf.json",
    "model/meta.json",
    "model/model.skops",
    "metrics/training_curves.json",
    "metrics/training/metrics.json",
    "metrics/model_performance.json",
    "data/predictions/test.parquet",
)


def snapshot(repo: Repo) -> dict[str, bytes]:
    return {name: (repo.path / name).read_bytes() for name in OUTPUTS}


def failed_repro(repo: Repo, stage: str, message: str) -> None:
    failed = repo.dvc("repro", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert f"{stage}: error: " in output and message in output, output
    assert "Traceback" not in output


def local_source_repo(repo_factory: Callable[..., Repo]) -> tuple[Repo, Path]:
    repo = repo_factory()
    source = repo.path / "data/external/reviews.tsv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(to_tsv(generate_reviews(3000, seed=1)))
    repo.set_params(data={"source": "data/external/reviews.tsv"})
    repo.dvc("repro")
    return repo, source


def test_a_source_without_its_text_column_keeps_the_previous_outputs(
    repo_factory: Callable[..., Repo],
) -> None:
    repo, source = local_source_repo(repo_factory)
    before = snapshot(repo)
    header, rest = source.read_text().split("\n", 1)
    renamed = ["Text" if name == "Phrase" else name for name in header.split("\t")]
    source.write_text("\t".join(renamed) + "\n" + rest)
    # get_data reads the header, so it refuses the file before it copies it: no output changes.
    failed_repro(repo, "get_data", "data.text_column: column 'Phrase' is not in")
    assert snapshot(repo) == before


def test_one_class_data_keeps_the_previous_outputs(repo_factory: Callable[..., Repo]) -> None:
    repo, source = local_source_repo(repo_factory)
    before = snapshot(repo)
    columns = generate_reviews(3000, seed=1)
    columns["Sentiment"] = [0] * len(columns["Sentiment"])
    source.write_bytes(to_tsv(columns))
    failed_repro(repo, "prepare_data", "all of label 0 (none of label 1)")
    after = snapshot(repo)
    assert {k: v for k, v in after.items() if k != "data/raw/reviews.tsv"} == {
        k: v for k, v in before.items() if k != "data/raw/reviews.tsv"
    }


def test_a_failed_train_keeps_the_previous_model_and_metrics(repo_factory: Callable[..., Repo]) -> None:
    repo = repo_factory(built=True)
    before = snapshot(repo)
    # Valid params (check_params passes) that fail once training starts: no kept epoch 99.
    repo.set_params(train={"model": "torch", "torch": {"init_from": 99, "keep_checkpoints": "all"}})
    failed_repro(repo, "train", "init_from")
    assert snapshot(repo) == before


def test_a_malformed_s3_object_keeps_the_previous_raw_data(
    repo_factory: Callable[..., Repo], s3_env: MotoServer
) -> None:
    s3 = s3_env.client()
    s3.create_bucket(Bucket="source-data")
    url = "s3://source-data/reviews.tsv"
    s3.put_object(Bucket="source-data", Key="reviews.tsv", Body=to_tsv(generate_reviews(3000, seed=1)))
    repo = repo_factory()
    repo.set_params(data={"source": url, "source_dep": url})
    repo.dvc("repro")
    before = snapshot(repo)
    s3.put_object(Bucket="source-data", Key="reviews.tsv", Body=b"PhraseId\tPhrase\n1\ta\tb\tc\n\x00\xff")
    failed_repro(repo, "get_data", "s3://source-data/reviews.tsv")
    assert snapshot(repo) == before
