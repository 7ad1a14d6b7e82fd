"""One source of truth for params: the models of common/params.py. params.schema.json and the
params tables of the README and of each section's own page are generated from them (make schema)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from common.errors import PipelineError
from common.params import load_params
from common.params_schema import SCHEMA_FILE, own_pages, schema_text, tables, with_tables
from tests.conftest import ROOT, TEST_PARAMS

# The tests' params.yaml, in tests/, names the schema as params.yaml does, from its own folder.
SCHEMA_LINE = f"# yaml-language-server: $schema=../{SCHEMA_FILE}"
TABLES = tables()


def test_the_committed_schema_is_generated_from_the_models() -> None:
    committed = (ROOT / SCHEMA_FILE).read_text()
    assert committed == schema_text(), f"{SCHEMA_FILE} is stale: make schema"


@pytest.mark.parametrize("page", sorted(TABLES))
def test_the_params_tables_are_generated_from_the_models(page: str) -> None:
    text = (ROOT / page).read_text()
    assert "<!-- /params -->" in text
    assert text == with_tables(text, page, TABLES[page]), f"{page}'s params table is stale: make schema"


def test_the_generated_table_lists_every_key_with_its_default_and_relative_links() -> None:
    readme = with_tables("<!-- params -->\n<!-- /params -->", "README.md", TABLES["README.md"])
    assert "| `split.train` | `[0, 8]` |" in readme
    assert "| `split.key` | `[SentenceId]` |" in readme
    assert '| `split.time_column` | `""` |' in readme
    assert "| `train.nb.norm` | `false` |" in readme
    assert "([Models](#models))" in readme  # README.md#models, on the README itself
    for key, target in own_pages().items():  # a section with its own page: one row linking there
        assert f"| `{key}.*` | see [{target.split('#')[0]}]({target}) |" in readme
        assert target.split("#")[0] in TABLES


def test_params_yaml_names_its_schema_and_validates_against_it() -> None:
    text = (TEST_PARAMS).read_text()
    assert text.splitlines()[0] == SCHEMA_LINE  # editors (YAML language server) validate with it
    schema = yaml.safe_load((ROOT / SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("train: {model: nb, nb: {alpha: 0.5, norm: true}}", True),
        ("train: {logreg: {C: 3}}", True),  # an integer where a number is expected
        ("split: {max_ks: 0.1, spark_master: null}", True),
        ("data: {negative_labels: [0, neg]}", True),
        ("evaluate:\n", True),
        ("train: {model: xgboost}", False),
        ("train: {logreg: {C: big}}", False),
        ("train: {nb: {norm: 1}}", False),
        ("train: {logreg: {max_iter: 0}}", False),
        ("train: {seed: 4294967296}", False),
        ("split: {train: [0, 8, 9]}", False),
        ("split: {key: SentenceId}", False),
        ("data: {sorce: x.tsv}", False),
        ("trian: {}", False),
    ],
)
def test_the_schema_and_the_stages_accept_and_refuse_the_same_values(
    tmp_path: Path, text: str, valid: bool
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    schema = yaml.safe_load((ROOT / SCHEMA_FILE).read_text())
    schema_errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text)))
    assert (not schema_errors) == valid, schema_errors
    if valid:
        load_params(path)
    else:
        with pytest.raises(PipelineError):
            load_params(path)


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("train.model=svm", "  model: svm               # logreg | svm | nb"),
        ("split.test=[8,10]", "  - 8"),
        (
            "data.source=reviews.csv",
            "  source: reviews.csv      # synthetic | a local .tsv/.csv/.parquet path",
        ),
    ],
)
def test_dvc_exp_run_set_param_changes_one_line_of_params_yaml(
    tmp_path: Path, override: str, line: str
) -> None:
    """`dvc exp run -S key=value` rewrites params.yaml in its own style (DVC's own function
    here): params.yaml is written in that style, so only the line of the key changes."""
    from dvc.utils.hydra import apply_overrides

    written = tmp_path / "params.yaml"
    written.write_text((TEST_PARAMS).read_text())
    apply_overrides(str(written), [override])
    before, after = (TEST_PARAMS).read_text().splitlines(), written.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 1, changed
    assert changed[0][1].startswith(line)
