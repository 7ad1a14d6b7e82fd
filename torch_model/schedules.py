"""The torch model's learning-rate (and AdamW beta1) schedules, by ``torch.optim.lr_scheduler``.

With ``W = ceil(warmup x N)`` warm-up steps of ``N`` (torch_model/README.md has the formulas):
``linear`` and ``cosine`` are a ``LambdaLR``, a linear warm-up to the peak, then a linear or
cosine decay that reaches ``min_lr`` one step after the last; ``one_cycle`` is ``OneCycleLR``,
a cosine rise from ``min_lr`` to the peak at step ``W`` and back, beta1 cycled the other way.

A scheduler sets step 0's values when built and step ``s + 1``'s at its ``step()`` after
optimizer step ``s``; the training loop saves its ``state_dict()`` in each checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from torch_model.params import TorchParams

DEFAULT_WARMUP = {"linear": 0.05, "cosine": 0.05, "one_cycle": 0.3}
# min_lr as a fraction of the peak when train.torch.min_lr is null (linear decays to 0).
DEFAULT_MIN_LR_RATIO = {"linear": 0.0, "cosine": 1 / 20, "one_cycle": 1 / 20}


def warmup_steps(settings: TorchParams, total_steps: int) -> int:
    """``W``: the warm-up steps of a run of ``total_steps`` optimizer steps."""
    warmup = settings.warmup if settings.warmup is not None else DEFAULT_WARMUP[settings.schedule]
    return math.ceil(warmup * total_steps)


def min_lr(settings: TorchParams) -> float:
    """Where the decay ends (and ``one_cycle`` starts)."""
    if settings.min_lr is not None:
        return settings.min_lr
    return settings.learning_rate * DEFAULT_MIN_LR_RATIO[settings.schedule]


def _peak_factor(settings: TorchParams, total_steps: int) -> Callable[[int], float]:
    """``LambdaLR``'s factor of the peak for ``linear`` and ``cosine``, a closed form of the step.

    Not torch's ``SequentialLR`` of ``LinearLR`` and ``LinearLR`` / ``CosineAnnealingLR``: those
    update the rate recursively, and over the default run's 2,250 steps their rates differed
    from this closed form at 2,188 (linear) and 2,142 (cosine) steps, by up to 1e-13 relative,
    so ``linear`` would no longer be the former schedule bit for bit (a test compares).
    """
    warmup = warmup_steps(settings, total_steps)
    floor = min_lr(settings) / settings.learning_rate
    span = max(1, total_steps - warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if settings.schedule == "cosine":
            decay = (1 + math.cos(math.pi * (step - warmup) / span)) / 2
        else:
            decay = max(0.0, (total_steps - step) / span)
        # With min_lr 0 (linear's default) exactly decay: the former LambdaLR's factor, bit for bit.
        return floor + (1 - floor) * decay

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TorchParams, total_steps: int) -> LRScheduler:
    """The scheduler of ``train.torch`` over a run of ``total_steps`` optimizer steps; it sets
    ``optimizer``'s rate (and for ``one_cycle`` beta1) for step 0 now."""
    if settings.schedule != "one_cycle":
        for group in optimizer.param_groups:  # LambdaLR scales initial_lr: the peak, whatever lr is
            group["initial_lr"] = settings.learning_rate
        return LambdaLR(optimizer, _peak_factor(settings, total_steps))
    warmup = warmup_steps(settings, total_steps)
    floor = min_lr(settings)
    return OneCycleLR(
        optimizer,
        max_lr=settings.learning_rate,
        # OneCycleLR peaks at step pct_start x total_steps - 1 and ends at step total_steps - 1:
        # these put the peak at step W and min_lr one step after the last, as linear and cosine.
        # With W = 0 the rise would be empty (its step 0 divides 0 by 0): pct_start 0 puts step s
        # at (s + 1) / (N + 1) of the fall instead of s / N, one step early.
        total_steps=total_steps + 1,
        pct_start=(warmup + 1) / (total_steps + 1) if warmup else 0.0,
        anneal_strategy="cos",
        cycle_momentum=True,  # for AdamW: beta1
        base_momentum=settings.beta1_min,
        max_momentum=settings.beta1_max,
        div_factor=settings.learning_rate / floor if floor else math.inf,  # starts at min_lr
        final_div_factor=1.0,  # and ends there
    )


def rate_and_beta1(optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    """The learning rate and beta1 that ``optimizer``'s next step uses."""
    group = optimizer.param_groups[0]
    return float(group["lr"]), float(group["betas"][0])
