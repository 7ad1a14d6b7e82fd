"""Hostile inputs, third round (issue 21): the WEAKs fixed outside the service."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common import atomic
from common.errors import PipelineError
from common.params import check_data_source
from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.model_support import small_model


@pytest.fixture
def external(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    return tmp_path / "data/external"


def test_a_symlink_loop_as_the_source_is_one_line(external: Path) -> None:
    (external / "a.tsv").symlink_to("b.tsv")
    (external / "b.tsv").symlink_to("a.tsv")
    with pytest.raises(PipelineError, match="is a symlink loop"):
        check_data_source("data/external/a.tsv", "data/external")


def test_a_folder_or_a_fifo_as_the_source_says_what_it_is(external: Path) -> None:
    (external / "folder.tsv").mkdir()
    os.mkfifo(external / "pipe.tsv")
    with pytest.raises(PipelineError, match="is a folder"):
        check_data_source("data/external/folder.tsv", "data/external")
    with pytest.raises(PipelineError, match="not a regular file"):
        check_data_source("data/external/pipe.tsv", "data/external")


def test_a_write_error_inside_an_output_folder_names_the_output_not_the_temp(tmp_path: Path) -> None:
    raw = tmp_path / "data/raw"
    with pytest.raises(OSError) as error, atomic.atomic_outputs(dirs=(raw,)) as (temp,):
        raise OSError(errno.ENOSPC, "No space left on device", str(temp / "reviews.tsv"))
    assert error.value.filename == str(raw / "reviews.tsv")


def predict(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "predict", "--unlocked-model", "--key", "id", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("in.csv", "--output: {}: must be a .parquet file"),
        ("in.parquet", "is the --input file; predictions would replace it"),
        ("model/x.parquet", "lies in the model folder model"),
        # Written locally as ./s3:/… before, the password in a folder's name: now refused, unechoed.
        ("s3://key:Secret42@bucket/o.parquet", "--output: a URL is not supported"),
    ],
)
def test_predict_refuses_an_output_over_its_input_or_inside_the_model(
    tmp_path: Path, output: str, message: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    small_model(tmp_path / "model")
    pq.write_table(pa.table({"id": [1], "Phrase": ["good film"]}), tmp_path / "in.parquet")
    before = (tmp_path / "in.parquet").read_bytes()
    result = predict(tmp_path, "--input", "in.parquet", "--output", output)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(output) in lines[0], lines
    assert "Secret42" not in result.stderr and not (tmp_path / "s3:").exists()
    assert (tmp_path / "in.parquet").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "manifest.json",
        "meta.json",
        "model.skops",
    ]


def test_predict_refuses_an_input_url_it_cannot_read_without_echoing_it(tmp_path: Path) -> None:
    # Read as the local path https:/bob:… before, shown with the password in the error.
    small_model(tmp_path / "model")
    url = "https://bob:TopSecret42@example.com/reviews.csv"
    result = predict(tmp_path, "--input", url, "--output", "o.parquet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "predict: error: --input: only a local path or an s3:// URL is read (the URL is not shown: it may "
        "hold a secret)"
    ]
    assert not (tmp_path / "o.parquet").exists()


def test_predict_spills_beside_its_output_and_removes_a_killed_runs_spill(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    small_model(tmp_path / "model")
    pq.write_table(pa.table({"id": [1, 2], "Phrase": ["good film", "bad plot"]}), tmp_path / "in.parquet")
    dead = tmp_path / "out" / ".predict-keys-999999999-x1y2"  # no such process
    dead.mkdir(parents=True)
    (dead / "00.bin").write_bytes(b"left by a SIGKILL")
    result = predict(tmp_path, "--input", "in.parquet", "--output", "out/scored.parquet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scored.parquet"]


@pytest.mark.parametrize("kind", ["dict", "unfitted"])
def test_a_skops_file_of_trusted_types_in_another_shape_is_refused_in_one_line(kind: str) -> None:
    import skops.io
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from train.sklearn_models import load_pipeline

    shape = (
        {"steps": ["x"]}
        if kind == "dict"
        else Pipeline([("c", CountVectorizer()), ("m", LogisticRegression())])
    )
    with pytest.raises(PipelineError, match="not a fitted text pipeline") as error:
        load_pipeline(skops.io.dumps(shape), "model/model.skops")
    assert "\n" not in str(error.value)
