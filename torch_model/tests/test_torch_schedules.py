"""The learning-rate schedules (torch_model/schedules.py) at given steps, against hand-computed values."""

from __future__ import annotations

import io
import math

import pytest
import torch
import yaml

from common.errors import PipelineError
from common.params import load_params, updated
from tests.conftest import TEST_PARAMS
from torch_model.params import TorchParams
from torch_model.schedules import build_scheduler, min_lr, rate_and_beta1, warmup_steps

# AdamW's default beta1, which linear and cosine leave as it is.
BETA1 = 0.9


def settings(**values: object) -> TorchParams:
    return TorchParams(learning_rate=0.2, **values)  # type: ignore[arg-type]


def schedule_values(settings: TorchParams, total_steps: int) -> list[tuple[float, float]]:
    """(learning rate, beta1) of optimizer steps 0, 1, ..., ``total_steps`` (one past the last),
    read off the optimizer before each step, as the training loop does."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=settings.learning_rate)
    scheduler = build_scheduler(optimizer, settings, total_steps)
    values = [rate_and_beta1(optimizer)]
    for _ in range(total_steps):
        optimizer.step()  # no gradient, so no change; the scheduler wants it before its step
        scheduler.step()
        values.append(rate_and_beta1(optimizer))
    return values


def test_linear_warms_up_then_decays_linearly_to_zero() -> None:
    linear = settings(schedule="linear", warmup=0.2)
    assert warmup_steps(linear, 10) == 2
    values = schedule_values(linear, total_steps=10)
    # Warm-up: peak x (step + 1) / 2; then peak x (10 - step) / 8.
    expected = {0: 0.1, 1: 0.2, 2: 0.2, 6: 0.1, 9: 0.025, 10: 0.0}
    for step, rate in expected.items():
        assert values[step][0] == pytest.approx(rate, abs=1e-12), step
        assert values[step][1] == BETA1
    with_floor = schedule_values(updated(linear, min_lr=0.04), total_steps=10)
    assert with_floor[6][0] == pytest.approx(0.04 + 0.16 * 0.5)  # halfway down to min_lr
    assert with_floor[10][0] == pytest.approx(0.04)


def test_cosine_anneals_from_the_peak_to_a_twentieth_of_it() -> None:
    cosine = settings(schedule="cosine", warmup=0.2)
    assert (warmup_steps(cosine, 10), min_lr(cosine)) == (2, pytest.approx(0.01))
    values = schedule_values(cosine, total_steps=10)
    # After the linear warm-up: 0.01 + 0.19 x (1 + cos(pi u)) / 2, u = (step - 2) / 8.
    expected = {0: 0.1, 1: 0.2, 2: 0.2, 6: 0.105, 9: 0.0172314, 10: 0.01}
    for step, rate in expected.items():
        assert values[step][0] == pytest.approx(rate, abs=1e-7), step
        assert values[step][1] == BETA1


def test_one_cycle_rises_for_30_percent_and_cycles_beta1_the_other_way() -> None:
    one_cycle = settings(schedule="one_cycle")
    assert (warmup_steps(one_cycle, 20), min_lr(one_cycle)) == (6, pytest.approx(0.01))
    values = schedule_values(one_cycle, total_steps=20)
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
        assert values[step][0] == pytest.approx(rate, abs=1e-12), step
        assert values[step][1] == pytest.approx(beta1, abs=1e-12), step
    # A quarter of the way up the cosine: (1 - cos(pi / 4)) / 2 of the way.
    quarter = settings(schedule="one_cycle", warmup=0.2)
    assert warmup_steps(quarter, 20) == 4
    rate, beta1 = schedule_values(quarter, total_steps=20)[1]
    assert rate == pytest.approx(0.01 + 0.19 * (1 - math.cos(math.pi / 4)) / 2)
    assert beta1 == pytest.approx(0.95 - 0.10 * (1 - math.cos(math.pi / 4)) / 2)


def test_one_cycle_takes_min_lr_and_the_beta1_range_from_params() -> None:
    values = schedule_values(
        settings(schedule="one_cycle", min_lr=0.002, beta1_min=0.8, beta1_max=0.99), total_steps=20
    )
    assert values[0] == (pytest.approx(0.002), pytest.approx(0.99))
    assert values[6] == (pytest.approx(0.2), pytest.approx(0.8))
    assert values[20] == (pytest.approx(0.002), pytest.approx(0.99))
    # min_lr 0: OneCycleLR's div_factor is infinite, and it starts and ends at 0.
    from_zero = schedule_values(settings(schedule="one_cycle", min_lr=0.0), total_steps=20)
    assert (from_zero[0][0], from_zero[6][0], from_zero[20][0]) == (0.0, pytest.approx(0.2), 0.0)


def test_one_cycle_without_warm_up_starts_one_step_into_its_fall() -> None:
    """OneCycleLR cannot rise over 0 steps: step s is at (s + 1) / 21 of the fall, not s / 20."""
    values = schedule_values(settings(schedule="one_cycle", warmup=0.0), total_steps=20)
    fall = math.cos(math.pi / 21)
    assert values[0] == (
        pytest.approx(0.01 + 0.19 * (1 + fall) / 2),
        pytest.approx(0.85 + 0.1 * (1 - fall) / 2),
    )
    assert values[0][0] < 0.2
    assert values[20] == (pytest.approx(0.01, abs=1e-12), pytest.approx(0.95, abs=1e-12))


def test_the_scheduler_sets_the_rate_and_betas_the_step_uses() -> None:
    parameter = torch.nn.Parameter(torch.zeros(3))
    # Step 3: halfway up one_cycle's rise; 4/5 of the way up linear's 5-step warm-up.
    for schedule, rate in [(settings(schedule="one_cycle"), 0.105), (settings(warmup=0.25), 0.16)]:
        optimizer = torch.optim.AdamW([parameter], lr=1.0)  # the peak is learning_rate, not lr
        scheduler = build_scheduler(optimizer, schedule, total_steps=20)
        for _ in range(3):
            optimizer.step()
            scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(rate), schedule.schedule
        assert optimizer.param_groups[0]["betas"] == (pytest.approx(0.9), 0.999), schedule.schedule


@pytest.mark.parametrize("kind", ["linear", "cosine", "one_cycle"])
def test_a_scheduler_restored_from_its_state_dict_goes_on_bit_for_bit(kind: str) -> None:
    """What a resumed run does: optimizer and scheduler rebuilt, then both states loaded (as
    weights_only checkpoints hold them); the rates and betas then equal the uninterrupted ones."""
    schedule = settings(schedule=kind, warmup=0.3)
    uninterrupted = schedule_values(schedule, total_steps=20)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    scheduler = build_scheduler(optimizer, schedule, total_steps=20)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    scheduler = build_scheduler(optimizer, schedule, total_steps=20)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    resumed = [rate_and_beta1(optimizer)]
    for _ in range(13):
        optimizer.step()
        scheduler.step()
        resumed.append(rate_and_beta1(optimizer))
    assert resumed == uninterrupted[7:]


def test_linear_is_bit_for_bit_the_former_lambda_lr_schedule() -> None:
    """The default schedule did not change: the same rates, to the bit, as the LambdaLR that
    computed them before (factor: (step + 1) / W, then (N - step) / (N - W))."""
    total = 2250  # the default data's steps: 40,000 train rows x 4 / 64 per batch, about
    values = schedule_values(TorchParams(), total)
    warmup = math.ceil(0.05 * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.003)
    former = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    for step in range(total):
        assert values[step][0] == optimizer.param_groups[0]["lr"], step
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
    assert (torch_settings.schedule, warmup_steps(torch_settings, 1000), min_lr(torch_settings)) == (
        "linear",
        50,
        0.0,
    )
    assert (torch_settings.stop_point, torch_settings.training_examples) == (4.0, None)
    assert (torch_settings.keep_checkpoints, torch_settings.init_from) == ("last", None)
