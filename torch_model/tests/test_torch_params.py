"""``train.torch``: its keys' one-line errors, its schema, its generated table on
torch_model/README.md and its lines of params.yaml, through the core's checks of every section
(tests/test_params.py, tests/test_params_as_dvc.py, tests/test_params_schema.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.params_schema import own_pages, with_tables
from tests.test_params import integer_params
from tests.test_params import test_a_key_that_is_not_a_name_is_refused as key_not_a_name_is_refused
from tests.test_params import test_bad_values_name_the_key as bad_values_name_the_key
from tests.test_params_as_dvc import (
    SECRET,
)
from tests.test_params_as_dvc import (
    test_a_secret_in_any_param_is_refused_at_check_params_without_echoing_it as secret_is_refused,
)
from tests.test_params_schema import (
    test_dvc_exp_run_set_param_changes_one_line_of_params_yaml as exp_run_changes_one_line,
)
from tests.test_params_schema import (
    test_the_schema_and_the_stages_accept_and_refuse_the_same_values as schema_agrees_with_the_stages,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: {model: xgboost}", "train.model: expected one of logreg, svm, nb, torch; got 'xgboost'"),
        (
            "train: {torch: {num_threads: 100000}}",
            "train.torch.num_threads: must be at most 1024, got 100000",
        ),
        ("train: {torch: {init_from: 0}}", "train.torch.init_from: must be at least 1, got 0"),
        (
            "train: {torch: {init_from: 1.5}}",
            "train.torch.init_from: expected an integer or a string, got 1.5",
        ),
    ],
)
def test_bad_torch_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    bad_values_name_the_key(tmp_path, text, message)


def test_a_torch_key_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    key_not_a_name_is_refused(
        tmp_path,
        "train:\n  torch:\n    0: 1\n",
        "train.torch: line 3: the key '0' reads as an integer, not a name",
    )


def test_a_secret_in_a_torch_param_is_refused_at_check_params_without_echoing_it(tmp_path: Path) -> None:
    secret_is_refused(tmp_path, f"train: {{torch: {{init_from: 'https://u:{SECRET}@host/last.pt'}}}}")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("train: {torch: {init_from: 3, warmup: null}}", True),
        ("train: {torch: {init_from: checkpoints/3.pt}}", True),
    ],
)
def test_the_schema_and_the_stages_agree_on_torch_values(tmp_path: Path, text: str, valid: bool) -> None:
    schema_agrees_with_the_stages(tmp_path, text, valid)


def test_dvc_exp_run_set_a_torch_param_changes_one_line_of_params_yaml(tmp_path: Path) -> None:
    exp_run_changes_one_line(
        tmp_path,
        "train.torch.warmup=0.1",
        "    warmup: 0.1            # share of the steps warming up; blank (null): 0.05",
    )


def test_the_torch_table_lives_on_this_folders_page_with_relative_links() -> None:
    assert own_pages()["train.torch"] == "torch_model/README.md#every-traintorch-key"
    readme = with_tables(
        "<!-- params -->\n<!-- /params -->", "README.md", {"train.torch": own_pages()["train.torch"]}
    )
    assert (
        "| `train.torch.*` | see [torch_model/README.md](torch_model/README.md#every-traintorch-key) |"
        in readme
    )
    torch = with_tables("<!-- params: train.torch -->\n<!-- /params -->", "torch_model/README.md", {})
    assert "| `init_from` | `null` |" in torch and "`train.torch." not in torch
    # torch_model/README.md#several-processes-..., on the page itself
    assert "[docs](#several-processes-traintorchprocesses)" in torch


def test_the_torch_integers_are_among_the_bounded_params() -> None:
    """tests/test_params.py checks every integer param for bounds: the torch section's too."""
    found = integer_params()
    assert len(found) > 20 and "TorchParams.num_threads" in found
