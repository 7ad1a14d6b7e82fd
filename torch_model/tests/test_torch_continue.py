"""The torch loop in process: example budget, schedules in the curves and across a resume, kept
checkpoints and ``init_from``, and exactly what a continued run equals (and does not)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from common.errors import PipelineError
from common.params import updated
from tests.train_support import phrases
from torch_model.data import Vocabulary
from torch_model.loop import (
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    Split,
    TrainedModel,
    kept_checkpoint_name,
    plan_steps,
    state_dict_bytes,
    train_torch_model,
    virtual_epoch_ends,
)
from torch_model.model import Architecture, TextCNN
from torch_model.params import TorchParams
from torch_model.tests.support import SMALL
from torch_model.tests.test_torch_schedules import schedule_values

SEED = 7


def train_small(
    settings: TorchParams,
    checkpoint_dir: Path,
    rows: int = 240,
    on_virtual_epoch: Callable[[list[dict[str, float | int]]], None] | None = None,
) -> TrainedModel:
    texts, labels = phrases(rows, seed=1)
    valid_texts, valid_labels = phrases(60, seed=2)
    return train_torch_model(
        settings,
        SEED,
        texts,
        np.array(labels),
        valid_texts,
        np.array(valid_labels),
        checkpoint_dir,
        on_virtual_epoch,
    )


def test_a_fixed_example_budget_does_not_grow_with_the_data(tmp_path: Path) -> None:
    budget = updated(SMALL, stop_point=None, training_examples=300)
    assert virtual_epoch_ends(240, budget) == [100, 200, 300]
    assert virtual_epoch_ends(2400, budget) == [100, 200, 300]
    assert virtual_epoch_ends(240, SMALL) == [120, 240, 360]  # stop_point scales with the rows
    small, large = (
        train_small(budget, tmp_path / "small", rows=240),
        train_small(budget, tmp_path / "large", rows=480),
    )
    assert small.examples_seen == large.examples_seen == 300
    with pytest.raises(
        PipelineError, match=r"checkpoints: 3 virtual epochs of 2 examples in all \(training_examples 2\)"
    ):
        virtual_epoch_ends(240, updated(budget, training_examples=2))


@pytest.mark.parametrize("schedule", ["linear", "cosine", "one_cycle"])
def test_each_virtual_epoch_records_the_rate_and_beta1_of_its_last_step(
    tmp_path: Path, schedule: str
) -> None:
    settings = updated(SMALL, schedule=schedule)
    trained = train_small(settings, tmp_path)
    texts, _ = phrases(240, seed=1)
    vocabulary = Vocabulary.build(texts, settings.max_vocab, settings.min_count, settings.max_tokens)
    encoded = vocabulary.encode_all(texts)
    epochs = plan_steps(Split(encoded, np.zeros(240)), settings, SEED, virtual_epoch_ends(240, settings))
    plan = schedule_values(settings, sum(map(len, epochs)))
    last_steps = np.cumsum([len(steps) for steps in epochs]) - 1
    assert [row["learning_rate"] for row in trained.curves] == [
        pytest.approx(plan[step][0], rel=1e-5) for step in last_steps
    ]
    assert [row["beta1"] for row in trained.curves] == [pytest.approx(plan[step][1]) for step in last_steps]
    # It learns with every schedule: the valid loss falls below chance (log 2 = 0.693).
    assert trained.curves[-1]["valid_loss"] < min(trained.curves[0]["valid_loss"], 0.69)


class Killed(Exception):
    """A kill right after a virtual epoch's checkpoint was written."""


@pytest.mark.parametrize("schedule", ["linear", "cosine", "one_cycle"])
def test_a_run_stopped_after_any_virtual_epoch_resumes_bit_for_bit(tmp_path: Path, schedule: str) -> None:
    """Each schedule's scheduler state goes through the checkpoint: resumed after virtual epoch 1
    or 2 of 3, the weights, curves and every checkpoint file equal the uninterrupted run's."""
    settings = updated(SMALL, schedule=schedule, keep_checkpoints="all")
    whole = train_small(settings, tmp_path / "whole")
    for stop in (1, 2):

        def kill(curves: list[dict[str, float | int]], stop: int = stop) -> None:
            if len(curves) == stop:
                raise Killed

        folder = tmp_path / f"killed-after-{stop}"
        with pytest.raises(Killed):
            train_small(settings, folder, on_virtual_epoch=kill)
        assert torch.load(folder / CHECKPOINT_FILE, weights_only=True)["virtual_epoch"] == stop
        resumed = train_small(settings, folder)
        assert state_dict_bytes(resumed.state) == state_dict_bytes(whole.state)
        assert resumed.curves == whole.curves
        files = sorted(path.name for path in (tmp_path / "whole").iterdir())
        assert sorted(path.name for path in folder.iterdir()) == files
        for name in files:
            assert (folder / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_kept_checkpoints_are_the_resume_state_of_each_virtual_epoch_and_change_no_weight(
    tmp_path: Path,
) -> None:
    last = train_small(SMALL, tmp_path / "last")
    kept = train_small(updated(SMALL, keep_checkpoints="all"), tmp_path / "all")
    assert state_dict_bytes(kept.state) == state_dict_bytes(last.state)
    assert kept.curves == last.curves
    names = [kept_checkpoint_name(epoch) for epoch in (1, 2, 3)]
    assert kept.kept_checkpoints == tuple(names) and last.kept_checkpoints == ()
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted([CHECKPOINT_FILE, *names])
    assert (tmp_path / "all" / names[-1]).read_bytes() == (tmp_path / "all" / CHECKPOINT_FILE).read_bytes()
    # keep_checkpoints is not in the fingerprint: switching it keeps a run resumable.
    assert (tmp_path / "all" / CHECKPOINT_FILE).read_bytes() == (
        tmp_path / "last" / CHECKPOINT_FILE
    ).read_bytes()
    second = torch.load(tmp_path / "all" / names[1], weights_only=True)
    assert second["virtual_epoch"] == 2 and second["curves"] == kept.curves[:2]


def test_a_continued_run_numbers_on_from_its_checkpoint_and_repeats_bit_for_bit(tmp_path: Path) -> None:
    base = updated(SMALL, keep_checkpoints="all")
    first = train_small(base, tmp_path)
    longer = updated(SMALL, init_from=2, stop_point=1.0, checkpoints=2, learning_rate=0.001)
    continued = train_small(longer, tmp_path)  # same folder: epochs 3 and 4 replace the first run's 3
    assert [row["virtual_epoch"] for row in continued.curves] == [1, 2, 3, 4]
    assert continued.curves[:2] == first.curves[:2]  # the checkpoint's own history, then the new rows
    assert continued.curves[2] != first.curves[2]
    assert continued.best_virtual_epoch in (3, 4) and continued.first_epoch == 2
    assert continued.examples_seen == 240  # this run's budget: stop_point 1.0 x 240 rows
    # It keeps what it started from (epochs 1 and 2), so running it again starts from the same file.
    assert continued.kept_checkpoints == (kept_checkpoint_name(1), kept_checkpoint_name(2))
    again_dir = tmp_path / "again"
    again_dir.mkdir()
    for name in continued.kept_checkpoints:
        (again_dir / name).write_bytes((tmp_path / name).read_bytes())
    again = train_small(longer, again_dir)
    assert state_dict_bytes(again.state) == state_dict_bytes(continued.state)
    assert again.curves == continued.curves


def test_a_continued_run_is_a_run_from_scratch_with_other_initial_weights(tmp_path: Path) -> None:
    """What equals what: init_from replaces the initial weights (and the vocabulary) and nothing
    else. A checkpoint holding exactly the weights that the seed draws gives the run from scratch,
    bit for bit; a checkpoint from virtual epoch 2 of 4 does not give the 4-epoch run, since the
    schedule (warm-up and decay over the new run's steps), AdamW's moments and the data order all
    start again."""
    texts, _ = phrases(240, seed=1)
    vocabulary = Vocabulary.build(texts, SMALL.max_vocab, SMALL.min_count, SMALL.max_tokens)
    torch.manual_seed(SEED)
    drawn = TextCNN(Architecture.from_settings(SMALL, len(vocabulary))).state_dict()
    start = tmp_path / "start.pt"
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "model": drawn,
            "vocabulary": list(vocabulary.tokens),
            "virtual_epoch": 0,
            "curves": [],
        },
        start,
    )
    scratch = train_small(SMALL, tmp_path / "scratch")
    from_file = train_small(updated(SMALL, init_from=str(start)), tmp_path / "from-file")
    assert state_dict_bytes(from_file.state) == state_dict_bytes(scratch.state)
    assert from_file.curves == scratch.curves

    four = updated(SMALL, stop_point=2.0, checkpoints=4, keep_checkpoints="all")
    whole = train_small(four, tmp_path / "whole")
    two = updated(four, stop_point=1.0, checkpoints=2)
    train_small(two, tmp_path / "halves")
    continued = train_small(updated(two, init_from=2), tmp_path / "halves")
    assert [row["virtual_epoch"] for row in continued.curves] == [
        row["virtual_epoch"] for row in whole.curves
    ]
    assert continued.examples_seen + 240 == whole.examples_seen
    assert state_dict_bytes(continued.state) != state_dict_bytes(whole.state)
    assert continued.curves[2:] != whole.curves[2:]


def test_init_from_errors_name_the_key_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(
        PipelineError, match=r"^train\.torch\.init_from: .*virtual_epoch_005\.pt not found \(a run with"
    ):
        train_small(updated(SMALL, init_from=5), tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(
        PipelineError, match=r"^train\.torch\.init_from: .*junk\.pt cannot be read as a checkpoint"
    ):
        train_small(updated(SMALL, init_from=str(tmp_path / "junk.pt")), tmp_path)
    train_small(updated(SMALL, keep_checkpoints="all"), tmp_path)
    wider = updated(SMALL, init_from=1, channels=32)
    with pytest.raises(
        PipelineError,
        match=r"^train\.torch\.init_from: .*virtual_epoch_001\.pt holds a model of another shape",
    ):
        train_small(wider, tmp_path)


def test_init_from_reads_a_format_2_checkpoint_but_a_resume_does_not(tmp_path: Path) -> None:
    """Format 3 added the scheduler's state: a format 2 last.pt cannot be resumed (the run starts
    over), while init_from, which reads only weights, vocabulary and curves, still takes one."""
    first = train_small(updated(SMALL, keep_checkpoints="all"), tmp_path / "first")
    for name in (kept_checkpoint_name(3), CHECKPOINT_FILE):
        state = torch.load(tmp_path / "first" / name, weights_only=True)
        del state["scheduler"]
        torch.save({**state, "format": 2}, tmp_path / "first" / name)
    continued = train_small(updated(SMALL, init_from=3), tmp_path / "first")
    assert continued.first_epoch == 3 and continued.curves[:3] == first.curves
    folder = tmp_path / "resumed"
    folder.mkdir()
    (folder / CHECKPOINT_FILE).write_bytes((tmp_path / "first" / CHECKPOINT_FILE).read_bytes())
    again = train_small(updated(SMALL, keep_checkpoints="all"), folder)
    assert again.curves == first.curves and state_dict_bytes(again.state) == state_dict_bytes(first.state)
    assert torch.load(folder / CHECKPOINT_FILE, weights_only=True)["format"] == CHECKPOINT_FORMAT
