"""``python -m predict``: keyed batch predictions from CSV, TSV, parquet and s3:// inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.model_support import NEGATIVE, POSITIVE, malicious_pickle, small_model
from tests.s3_server import MotoServer
from train.model_store import SKLEARN_FILE, load_scorer

TEXTS = [POSITIVE[0], NEGATIVE[0], POSITIVE[1], NEGATIVE[1]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("predict") / "model"
    small_model(folder)
    return folder


def predict(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "predict", "--unlocked-model", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def run_ok(tmp_path: Path, model_dir: Path, source: Path | str, *keys: str) -> pa.Table:
    out = tmp_path / "out.parquet"
    key_args = [arg for key in keys for arg in ("--key", key)]
    result = predict(
        tmp_path,
        "--input",
        str(source),
        "--output",
        str(out),
        *key_args,
        "--model",
        str(model_dir),
        "--text-column",
        "text",
    )
    assert result.returncode == 0, result.stderr
    return pq.read_table(out)


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_keys_pass_through_unchanged_in_input_order_with_the_models_predictions(
    tmp_path: Path, model_dir: Path, suffix: str
) -> None:
    table = pa.table({"id": [30, 10, 20, 40], "name": ["é", "日本", "b", "a"], "text": TEXTS})
    source = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        pq.write_table(table, source)
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        pacsv.write_csv(table, source, pacsv.WriteOptions(delimiter=delimiter, quoting_style="none"))
    out = run_ok(tmp_path, model_dir, source, "id", "name")
    assert out.column_names == ["id", "name", "score", "label", "prediction"]
    # A parquet key keeps its type; a CSV's is the text as written (see the next test).
    assert out["id"].to_pylist() == ([30, 10, 20, 40] if suffix == ".parquet" else ["30", "10", "20", "40"])
    assert out["name"].to_pylist() == ["é", "日本", "b", "a"]
    assert out["label"].to_pylist() == [1, 0, 1, 0]
    assert out["prediction"].to_pylist() == ["positive", "negative", "positive", "negative"]
    expected, _ = load_scorer(model_dir, unlocked=True).predict(TEXTS)
    assert out["score"].to_pylist() == pytest.approx(expected.tolist())


def test_csv_keys_come_back_as_written_so_leading_zeros_stay_distinct(
    tmp_path: Path, model_dir: Path
) -> None:
    # Read as numbers before, 00123 and 123 were one key (a false duplicate), and 1e3 came back as 1000.0.
    source = tmp_path / "in.csv"
    source.write_text("id,text\n00123,a wonderful film\n0456,a dull tedious mess\n123,good fun\n1e3,bad\n")
    out = run_ok(tmp_path, model_dir, source, "id")
    assert out["id"].to_pylist() == ["00123", "0456", "123", "1e3"]


def test_many_batches_keep_order_and_find_a_duplicate_far_apart(tmp_path: Path, model_dir: Path) -> None:
    rows = 150_000  # three input batches of 65,536 rows
    ids = list(range(rows))
    texts = [TEXTS[i % 4] for i in range(rows)]
    pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "big.parquet")
    out = run_ok(tmp_path, model_dir, tmp_path / "big.parquet", "id")
    assert out["id"].to_pylist() == ids
    assert out["label"].to_pylist()[:8] == [1, 0, 1, 0, 1, 0, 1, 0]
    two = tmp_path / "two-workers.parquet"
    args = ["--input", "big.parquet", "--key", "id", "--model", str(model_dir), "--text-column", "text"]
    result = predict(tmp_path, *args, "--output", str(two), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert two.read_bytes() == (tmp_path / "out.parquet").read_bytes()  # the same bytes either way

    ids[140_000] = 7
    pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / "dup.parquet")
    out_path = tmp_path / "dup-out.parquet"
    result = predict(
        tmp_path,
        "--input",
        "dup.parquet",
        "--output",
        str(out_path),
        "--key",
        "id",
        "--model",
        str(model_dir),
        "--text-column",
        "text",
    )
    assert (
        one_error(result)
        == "predict: error: dup.parquet: duplicate key (id) in row 140000, first seen in row 7"
    )
    assert not out_path.exists() and list(tmp_path.glob(".dup-out*")) == []


def test_a_key_of_several_columns_is_unique_as_a_whole(tmp_path: Path, model_dir: Path) -> None:
    table = pa.table({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "text": TEXTS})
    pq.write_table(table, tmp_path / "in.parquet")
    assert run_ok(tmp_path, model_dir, tmp_path / "in.parquet", "a", "b").num_rows == 4
    result = predict(
        tmp_path,
        "--input",
        "in.parquet",
        "--output",
        "o.parquet",
        "--key",
        "a",
        "--model",
        str(model_dir),
        "--text-column",
        "text",
    )
    assert one_error(result).endswith("duplicate key (a) in row 1, first seen in row 0")


@pytest.mark.parametrize(
    ("table", "args", "message"),
    [
        (
            pa.table({"id": [1, None, 3], "text": TEXTS[:3]}),
            ["--key", "id"],
            "key column 'id' is NULL in row 1",
        ),
        (
            pa.table({"id": [1, 2, 3], "text": [TEXTS[0], TEXTS[1], None]}),
            ["--key", "id"],
            "text column 'text' is NULL in row 2",
        ),
        (
            pa.table({"id": [1, 2], "text": TEXTS[:2]}),
            ["--key", "ID"],
            "key column 'ID' (--key) not found (columns: id, text)",
        ),
        (
            pa.table({"id": [1, 2], "Phrase": TEXTS[:2]}),
            ["--key", "id"],
            "text column 'text' (--text-column) not found",
        ),
        (
            pa.table({"id": [1, 2], "text": [10, 20]}),
            ["--key", "id"],
            "column 'text' (--text-column) has type int64; expected text",
        ),
        (
            pa.table({"id": [1, 2], "text": [["a"], ["b"]]}),
            ["--key", "id"],
            "column 'text' (--text-column) has type list<element: string>; expected text",
        ),
        (
            pa.table({"id": [{"a": 1}, {"a": 2}], "text": TEXTS[:2]}),
            ["--key", "id"],
            "key column 'id' (--key) has type struct<a: int64>; a key must be text, a number",
        ),
        (
            pa.table({"id": [1, 2], "text": [b"a", b"b"]}),
            ["--key", "id"],
            "column 'text' (--text-column) holds bytes, not UTF-8 text",
        ),
    ],
)
def test_bad_input_is_one_line_naming_column_and_row(
    tmp_path: Path, model_dir: Path, table: pa.Table, args: list[str], message: str
) -> None:
    pq.write_table(table, tmp_path / "in.parquet")
    result = predict(
        tmp_path,
        "--input",
        "in.parquet",
        "--output",
        "o.parquet",
        *args,
        "--model",
        str(model_dir),
        "--text-column",
        "text",
    )
    assert message in one_error(result)
    assert not (tmp_path / "o.parquet").exists()


def test_a_tampered_model_is_refused_before_it_is_loaded(tmp_path: Path, model_dir: Path) -> None:
    tampered = tmp_path / "model"
    tampered.mkdir()
    for path in model_dir.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    marker = tmp_path / "pwned"
    (tampered / SKLEARN_FILE).write_bytes(malicious_pickle(marker))
    pq.write_table(pa.table({"id": [1], "text": TEXTS[:1]}), tmp_path / "in.parquet")
    result = predict(
        tmp_path,
        "--input",
        "in.parquet",
        "--output",
        "o.parquet",
        "--key",
        "id",
        "--model",
        str(tampered),
        "--text-column",
        "text",
    )
    assert "model.skops: SHA-256" in one_error(result)
    assert not marker.exists()


def test_an_s3_input(tmp_path: Path, model_dir: Path, s3_env: MotoServer) -> None:
    client = s3_env.client()
    client.create_bucket(Bucket="predict-input")
    csv = "id,text\n" + "".join(f"k{i},{text}\n" for i, text in enumerate(TEXTS))
    client.put_object(Bucket="predict-input", Key="batch/in.csv", Body=csv.encode())
    out = run_ok(tmp_path, model_dir, "s3://predict-input/batch/in.csv", "id")
    assert out["id"].to_pylist() == ["k0", "k1", "k2", "k3"]
    assert out["label"].to_pylist() == [1, 0, 1, 0]
    result = predict(
        tmp_path,
        "--input",
        "s3://predict-input/nope.csv",
        "--output",
        "o.parquet",
        "--key",
        "id",
        "--model",
        str(model_dir),
    )
    assert one_error(result).startswith("predict: error: s3://predict-input/nope.csv: no such object")
