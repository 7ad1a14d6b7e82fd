"""The model registry (train/registry.py): every ``train.model`` choice is one entry, and the
params validation, the train stage, loading and ``make experiments`` follow from it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from common.errors import PipelineError
from common.params import MODEL_NAMES, TrainParams, as_dict, load_params, read_params_yaml
from tests.conftest import Repo, params, performance, run_module
from train.model_store import load_scorer
from train.registry import MODELS, Model, check_registry, model_columns, train_sklearn

SKLEARN_MODELS = sorted(name for name, model in MODELS.items() if model.classifier is not None)
# Below 0.7 a model has not learned the synthetic data (logreg reaches 0.89 on 3000 rows).
SENSIBLE_ACCURACY = 0.7


def test_every_params_section_has_an_entry_and_every_entry_a_section() -> None:
    assert list(MODELS) == list(MODEL_NAMES)
    assert {"logreg", "svm", "nb"} <= set(MODELS)
    check_registry()


def test_a_section_without_an_entry_and_an_entry_without_a_section_are_named() -> None:
    entry = Model(train=train_sklearn)
    with pytest.raises(
        PipelineError, match=re.escape("'extra' has a params section but no entry in train/registry.py")
    ):
        check_registry({"logreg": entry}, ("logreg", "extra"))
    with pytest.raises(PipelineError, match=re.escape("train/registry.py: 'extra' has no params section")):
        check_registry({"logreg": entry, "extra": entry}, ("logreg",))


def test_train_model_accepts_exactly_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    for name in MODELS:
        path.write_text(f"train: {{model: {name}}}")
        assert load_params(path).train.model == name
    path.write_text("train: {model: xgboost}")
    with pytest.raises(PipelineError) as error:
        load_params(path)
    assert f"train.model: expected one of {', '.join(MODELS)}; got 'xgboost'" in str(error.value)


@pytest.mark.parametrize("name", list(MODELS))
def test_each_entry_compares_keys_its_params_section_has(name: str) -> None:
    section = as_dict(TrainParams(model=name).model_params)  # type: ignore[arg-type]
    assert set(MODELS[name].compare or ()) <= set(section)


def test_the_experiment_columns_are_each_entrys_compare() -> None:
    keep = re.compile(model_columns())
    shown = ["train.model", "train.logreg.C", "train.svm.C", "train.nb.alpha"]
    hidden = ["train.seed", "train.logreg.max_iter", "train.nb.norm", "train.modelx", "train.svm.Cx"]
    assert [c for c in shown if not keep.match(c)] == []
    assert [c for c in hidden if keep.match(c)] == []
    # A new entry brings its own columns.
    added = {**MODELS, "knn": Model(train=train_sklearn, compare=("n_neighbors",))}
    assert re.compile(model_columns(added)).match("train.knn.n_neighbors")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stage folder with the default synthetic data (3000 rows), split by prepare_data."""
    folder = tmp_path_factory.mktemp("prepared")
    (folder / "params.yaml").write_text("data: {synthetic_rows: 3000}\n")
    for module in ("prepare_data.get", "prepare_data"):
        result = run_module(module, folder, code=Path(__file__).resolve().parent.parent)
        assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("name", SKLEARN_MODELS)
def test_each_scikit_learn_model_trains_evaluates_and_loads(
    prepared: Path, tmp_path: Path, name: str
) -> None:
    """Every scikit-learn entry, nb included, through the train and evaluate stages."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "data").symlink_to(prepared / "data")
    settings = read_params_yaml(prepared / "params.yaml")
    settings["train"] = {"model": name}
    (folder / "params.yaml").write_text(yaml.safe_dump(settings))
    root = Path(__file__).resolve().parent.parent
    for module in ("train", "evaluate"):
        result = run_module(module, folder, code=root)
        assert result.returncode == 0, result.stderr

    meta = json.loads((folder / "model" / "meta.json").read_text())
    assert meta["kind"] == "sklearn" and meta["model"] == name
    assert set(meta["params"]) == {"seed", name}  # its own section only
    metrics = json.loads((folder / "metrics" / "model_performance.json").read_text())
    assert metrics["accuracy"] > SENSIBLE_ACCURACY and metrics["roc_auc"] > SENSIBLE_ACCURACY
    (curve,) = json.loads((folder / "metrics" / "training_curves.json").read_text())
    # Fits the train split better than a coin (log 2); logreg's C 1e5 overfits, so the valid
    # loss may be far higher, but it is a finite number for every model.
    assert 0 < curve["train_loss"] < 0.69 and 0 < curve["valid_loss"] < 100
    scores, labels = load_scorer(folder / "model", unlocked=True).predict(["a", "b c"])
    assert scores.shape == labels.shape == (2,)


@pytest.mark.integration
def test_dvc_exp_run_nb_shows_in_make_experiments(repo_factory: Callable[..., Repo]) -> None:
    """The README's one-liner for the fourth model, under real dvc, and its column."""
    from tests.test_experiments import make

    repo = repo_factory(built=True)
    repo.dvc("exp", "run", "-n", "naive-bayes", "-S", "train.model=nb")
    found = repo.experiments()
    assert params(found["naive-bayes"])["train"]["model"] == "nb"
    assert params(found["naive-bayes"])["train"]["nb"] == {"alpha": 1.0, "norm": False}
    nb, logreg = performance(found["naive-bayes"]), performance(found["main"])
    assert nb["accuracy"] > SENSIBLE_ACCURACY and nb["accuracy"] != logreg["accuracy"]

    table = make(repo, "experiments").stdout
    header = next(line.split() for line in table.splitlines() if line.split()[:1] == ["Experiment"])
    # The model always; params only where the rows differ (both rows have nb.alpha 1.0).
    assert {"train.model", "accuracy"} <= set(header)
    assert "train.nb.alpha" not in header and "train.logreg.max_iter" not in header
    row = next(line.split() for line in table.splitlines() if "[naive-bayes]" in line)
    assert "nb" in row
