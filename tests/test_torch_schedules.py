"""The learning-rate schedules (train/schedules.py) at given steps, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from common.errors import PipelineError
from common.params import TorchParams, load_params
from tests.conftest import TEST_PARAMS
from train.schedules import BETA1, build_schedule


def settings(**values: object) -> TorchParams:
    return TorchParams(learning_rate=0.2, **values)  # type: ignore[arg-type]


def test_linear_warms_up_then_decays_linearly_to_zero() -> None:
    schedule = build_schedule(settings(schedule="linear", warmup=0.2), total_steps=10)
    assert schedule.warmup_steps == 2
    # Warm-up: peak x (step + 1) / 2; then peak x (10 - step) / 8.
    expected = {0: 0.1, 1: 0.2, 2: 0.2, 6: 0.1, 9: 0.025, 10: 0.0}
    for step, rate in expected.items():
        assert schedule.learning_rate(step) == pytest.approx(rate, abs=1e-12), step
        assert schedule.beta1(step) == BETA1
    with_floor = build_schedule(settings(schedule="linear", warmup=0.2, min_lr=0.04), total_steps=10)
    assert with_floor.learning_rate(6) == pytest.approx(0.04 + 0.16 * 0.5)  # halfway down to min_lr
    assert with_floor.learning_rate(10) == pytest.approx(0.04)


def test_cosine_anneals_from_the_peak_to_a_twentieth_of_it() -> None:
    schedule = build_schedule(settings(schedule="cosine", warmup=0.2), total_steps=10)
    assert (schedule.warmup_steps, schedule.min_lr) == (2, pytest.approx(0.01))
    # After the linear warm-up: 0.01 + 0.19 x (1 + cos(pi u)) / 2, u = (step - 2) / 8.
    expected = {0: 0.1, 1: 0.2, 2: 0.2, 6: 0.105, 9: 0.0172314, 10: 0.01}
    for step, rate in expected.items():
        assert schedule.learning_rate(step) == pytest.approx(rate, abs=1e-7), step
        assert schedule.beta1(step) == BETA1


def test_one_cycle_rises_for_30_percent_and_cycles_beta1_the_other_way() -> None:
    schedule = build_schedule(settings(schedule="one_cycle"), total_steps=20)
    assert (schedule.warmup_steps, schedule.min_lr) == (6, pytest.approx(0.01))
    # (step, learning rate, beta1): cosine from 0.01 up to 0.2 over steps 0-6 while beta1 goes
    # from 0.95 down to 0.85, then cosine back down over steps 6-20 while beta1 goes back up.
    expected = [
        (0, 0.01, 0.95),
        (3, 0.105, 0.90),  # halfway up: the mean of min and peak
        (6, 0.2, 0.85),
        (13, 0.105, 0.90),  # halfway down
        (20, 0.01, 0.95),
    ]
    for step, rate, beta1 in expected:
        assert schedule.learning_rate(step) == pytest.approx(rate, abs=1e-12), step
        assert schedule.beta1(step) == pytest.approx(beta1, abs=1e-12), step
    # A quarter of the way up the cosine: (1 - cos(pi / 4)) / 2 of the way.
    quarter = build_schedule(settings(schedule="one_cycle", warmup=0.2), total_steps=20)
    assert quarter.warmup_steps == 4
    assert quarter.learning_rate(1) == pytest.approx(0.01 + 0.19 * (1 - math.cos(math.pi / 4)) / 2)
    assert quarter.beta1(1) == pytest.approx(0.95 - 0.10 * (1 - math.cos(math.pi / 4)) / 2)


def test_one_cycle_takes_min_lr_and_the_beta1_range_from_params() -> None:
    schedule = build_schedule(
        settings(schedule="one_cycle", min_lr=0.002, beta1_min=0.8, beta1_max=0.99), total_steps=20
    )
    assert (schedule.learning_rate(0), schedule.beta1(0)) == (pytest.approx(0.002), pytest.approx(0.99))
    assert (schedule.learning_rate(6), schedule.beta1(6)) == (pytest.approx(0.2), pytest.approx(0.8))


def test_apply_sets_the_rate_and_betas_the_step_uses() -> None:
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter], lr=1.0)
    schedule = build_schedule(settings(schedule="one_cycle"), total_steps=20)
    schedule.apply(optimizer, 3)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.105)
    assert optimizer.param_groups[0]["betas"] == (pytest.approx(0.9), 0.999)


def test_linear_is_bit_for_bit_the_former_lambda_lr_schedule() -> None:
    """The default schedule did not change: the same rates, to the bit, as the LambdaLR that
    computed them before (factor: (step + 1) / W, then (N - step) / (N - W))."""
    total = 2250  # the default data's steps: 40,000 train rows x 4 / 64 per batch, about
    schedule = build_schedule(TorchParams(), total)
    warmup = math.ceil(0.05 * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.003)
    former = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    for step in range(total):
        assert schedule.learning_rate(step) == optimizer.param_groups[0]["lr"], step
        optimizer.step()
        former.step()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"schedule": "step"}, "train.torch.schedule: expected one of linear, cosine, one_cycle; got 'step'"),
        ({"warmup": 1.0}, "train.torch.warmup: must be less than 1.0, got 1.0"),
        ({"min_lr": 0.01}, "train.torch.min_lr: must be in [0, learning_rate 0.003) or null"),
        ({"beta1_min": 0.96}, "train.torch.beta1_min, train.torch.beta1_max: must satisfy"),
        ({"training_examples": 1000}, "train.torch.training_examples: set exactly one of stop_point"),
        ({"stop_point": None}, "train.torch.training_examples: set exactly one of stop_point"),
        ({"stop_point": None, "training_examples": 0}, "train.torch.training_examples: must be at least 1"),
        ({"keep_checkpoints": "some"}, "train.torch.keep_checkpoints: expected one of last, all"),
        ({"init_from": 0}, "train.torch.init_from: must be at least 1, got 0"),
        ({"init_from": ""}, "train.torch.init_from: an empty path"),
    ],
)
def test_bad_schedule_and_checkpoint_settings_name_the_key(tmp_path, values: dict, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"model": "torch", "torch": values}}))
    with pytest.raises(PipelineError) as error:
        load_params(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_the_defaults_keep_the_former_behaviour() -> None:
    torch_settings = load_params(TEST_PARAMS).train.torch
    assert torch_settings == TorchParams()
    schedule = build_schedule(torch_settings, 1000)
    assert (schedule.kind, schedule.warmup_steps, schedule.min_lr) == ("linear", 50, 0.0)
    assert (torch_settings.stop_point, torch_settings.training_examples) == (4.0, None)
    assert (torch_settings.keep_checkpoints, torch_settings.init_from) == ("last", None)
