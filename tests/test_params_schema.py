"""One source of truth for params: the dataclasses of common/params.py. params.yaml, the
README's Parameters table and params.schema.json must all agree with them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from common.errors import PipelineError
from common.params import Params, as_dict, load_params, read_params_yaml
from common.params_schema import SCHEMA_FILE, schema_text
from tests.conftest import ROOT

SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
TABLE_HEADER = re.compile(r"^\| *key *\| *default *\| *meaning *\|$")


def leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train.logreg.C": 100000.0, ...}``: every key that holds a value, dotted."""
    found: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            found.update(leaves(value, key))
        else:
            found[key] = value
    return found


def typed(value: Any) -> Any:
    """``value`` with its type, so that ``1`` and ``1.0`` (or ``0`` and ``false``) differ."""
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


DEFAULTS = leaves(as_dict(Params()))


def test_params_yaml_holds_every_key_with_its_dataclass_default() -> None:
    committed = leaves(read_params_yaml(ROOT / "params.yaml"))
    assert sorted(set(DEFAULTS) - set(committed)) == [], "keys missing from params.yaml"
    assert sorted(set(committed) - set(DEFAULTS)) == [], "params.yaml keys no dataclass has"
    differ = {k: (committed[k], DEFAULTS[k]) for k in DEFAULTS if typed(committed[k]) != typed(DEFAULTS[k])}
    assert differ == {}, "params.yaml value, dataclass default"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return text.replace(" ", "-")


def key_table(path: Path, anchor: str | None = None) -> list[tuple[str, str]]:
    """The (key, default) cells of the first ``| key | default | meaning |`` table in ``path``,
    after the heading whose anchor is ``anchor`` if given."""
    lines = path.read_text().splitlines()
    start = 0
    if anchor is not None:
        starts = [i for i, line in enumerate(lines) if line.startswith("#") and github_anchor(line) == anchor]
        assert starts, f"{path.name}: no heading with the anchor #{anchor}"
        start = starts[0]
    header = next(i for i in range(start, len(lines)) if TABLE_HEADER.match(lines[i]))
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


def documented_defaults(path: Path, prefix: str = "", anchor: str | None = None) -> dict[str, Any]:
    """Each key of a params table with its default. Several keys may share a row
    (`` `split.train` / `valid` `` with `` `[0, 8]` / `[8, 9]` ``: the same count of each, the
    later keys named within the first one's section); a ``section.*`` row links the page and
    heading whose table lists that section's keys."""
    found: dict[str, Any] = {}
    for key_cell, default_cell in key_table(path, anchor):
        keys = re.findall(r"`([^`]+)`", key_cell)
        if len(keys) == 1 and keys[0].endswith(".*"):
            link = re.search(r"\]\(([^)#]+)#([^)]+)\)", default_cell)
            assert link, f"{path.name}: row {keys[0]} links no table of its keys"
            section = prefix + keys[0][:-1]
            found.update(documented_defaults(path.parent / link[1], section, link[2]))
            continue
        defaults = re.findall(r"`([^`]*)`", default_cell)
        assert len(keys) == len(defaults), f"{path.name}: row {key_cell} has {len(defaults)} defaults"
        section = keys[0].rpartition(".")[0]
        for key, default in zip(keys, defaults, strict=True):
            name = key if "." in key or not section else f"{section}.{key}"
            found[prefix + name] = yaml.safe_load(default)
    return found


def test_the_readme_params_table_lists_every_key_with_its_default() -> None:
    documented = documented_defaults(ROOT / "README.md")
    assert sorted(set(DEFAULTS) - set(documented)) == [], "keys missing from the README's table"
    assert sorted(set(documented) - set(DEFAULTS)) == [], "keys in the README's table no dataclass has"
    differ = {k: (documented[k], DEFAULTS[k]) for k in DEFAULTS if typed(documented[k]) != typed(DEFAULTS[k])}
    assert differ == {}, "README default, dataclass default"


def test_the_table_parser_reads_shared_rows_and_linked_tables(tmp_path: Path) -> None:
    """Checks the checker on a small README and the page its wildcard row links."""
    (tmp_path / "README.md").write_text(
        "| key | default | meaning |\n|---|---|---|\n"
        "| `split.train` / `valid` | `[0, 8]` / `[8, 9]` | ranges |\n"
        "| `train.logreg.C`, `train.logreg.max_iter` | `1.0`, `10` | logistic regression |\n"
        "| `train.torch.*` | see [torch](torch.md#every-traintorch-key) | torch |\n"
    )
    (tmp_path / "torch.md").write_text(
        "| key | default | meaning |\n|---|---|---|\n| `other` | `1` | not this one |\n\n"
        "## Every `train.torch.` key\n\n| key | default | meaning |\n|---|---|---|\n"
        "| `device` | `auto` | where |\n| `warmup` | `null` | share |\n"
    )
    assert documented_defaults(tmp_path / "README.md") == {
        "split.train": [0, 8],
        "split.valid": [8, 9],
        "train.logreg.C": 1.0,
        "train.logreg.max_iter": 10,
        "train.torch.device": "auto",
        "train.torch.warmup": None,
    }


def test_the_committed_schema_is_generated_from_the_dataclasses() -> None:
    committed = (ROOT / SCHEMA_FILE).read_text()
    assert committed == schema_text((ROOT / "params.yaml").read_text()), (
        f"{SCHEMA_FILE} is stale: make schema"
    )


def test_params_yaml_names_its_schema_and_validates_against_it() -> None:
    text = (ROOT / "params.yaml").read_text()
    assert text.splitlines()[0] == SCHEMA_LINE  # editors (YAML language server) validate with it
    schema = yaml.safe_load((ROOT / SCHEMA_FILE).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(text))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("train: {model: nb, nb: {alpha: 0.5, norm: true}}", True),
        ("train: {logreg: {C: 3}}", True),  # an integer where a number is expected
        ("split: {max_ks: 0.1, spark_master: null}", True),
        ("train: {torch: {init_from: 3, warmup: null}}", True),
        ("train: {torch: {init_from: checkpoints/3.pt}}", True),
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
    schema_errors = list(jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(text)))
    assert (not schema_errors) == valid, schema_errors
    if valid:
        load_params(path)
    else:
        with pytest.raises(PipelineError):
            load_params(path)


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("train.model=svm", "  model: svm               # logreg | svm | nb | torch (train/registry.py)"),
        ("split.test=[8,10]", "  - 8"),
        (
            "train.torch.warmup=0.1",
            "    warmup: 0.1            # share of the steps warming up; blank (null): 0.05",
        ),
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
    written.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(str(written), [override])
    before, after = (ROOT / "params.yaml").read_text().splitlines(), written.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 1, changed
    assert changed[0][1].startswith(line)
