"""Learning-rate (and AdamW beta1) schedules of the torch model, as plain functions of the step.

``train.torch.schedule``:

- ``linear``: linear warm-up from ``peak / W`` to ``peak`` over the first ``W`` steps, then a
  linear decay towards ``min_lr`` (0 by default) that reaches it one step after the last.
- ``cosine``: the same linear warm-up, then cosine annealing from ``peak`` to ``min_lr``
  (``peak / 20`` by default).
- ``one_cycle``: a cosine rise from ``min_lr`` (``peak / 20`` by default) to ``peak`` over the
  first ``W`` steps (30% of them by default), then a cosine fall back to ``min_lr``; beta1
  moves the other way, from ``beta1_max`` down to ``beta1_min`` at the peak and back up.

``W = ceil(warmup x steps)``. The value for step ``s`` (0-based) is the one that optimizer
step uses; each is a function of ``s`` alone, so a resumed run needs no scheduler state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from common.params import TorchParams

# AdamW's default betas: beta1 of the schedules that do not cycle it, and beta2 of all.
BETA1 = 0.9
BETA2 = 0.999
DEFAULT_WARMUP = {"linear": 0.05, "cosine": 0.05, "one_cycle": 0.3}
# min_lr as a fraction of the peak when train.torch.min_lr is null (linear decays to 0).
DEFAULT_MIN_LR_RATIO = {"linear": 0.0, "cosine": 1 / 20, "one_cycle": 1 / 20}


def _cosine(start: float, end: float, fraction: float) -> float:
    """Half a cosine wave from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


@dataclass(frozen=True)
class Schedule:
    kind: Literal["linear", "cosine", "one_cycle"]
    peak: float
    min_lr: float
    warmup_steps: int
    total_steps: int
    beta1_min: float = BETA1
    beta1_max: float = BETA1

    def _decay_fraction(self, step: int) -> float:
        return (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)

    def learning_rate(self, step: int) -> float:
        warming = step < self.warmup_steps
        if self.kind == "one_cycle":
            if warming:
                return _cosine(self.min_lr, self.peak, step / self.warmup_steps)
            return _cosine(self.peak, self.min_lr, self._decay_fraction(step))
        if warming:
            # The same expression as the former LambdaLR factor times the peak: the same bits.
            return self.peak * ((step + 1) / self.warmup_steps)
        if self.kind == "cosine":
            return _cosine(self.peak, self.min_lr, self._decay_fraction(step))
        factor = max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))
        # With min_lr 0 this is exactly peak * factor, the former LambdaLR's value.
        return self.min_lr + (self.peak - self.min_lr) * factor

    def beta1(self, step: int) -> float:
        if self.kind != "one_cycle":
            return BETA1
        if step < self.warmup_steps:
            return _cosine(self.beta1_max, self.beta1_min, step / self.warmup_steps)
        return _cosine(self.beta1_min, self.beta1_max, self._decay_fraction(step))

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Set the learning rate and betas that optimizer step ``step`` uses."""
        learning_rate, beta1 = self.learning_rate(step), self.beta1(step)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
            group["betas"] = (beta1, BETA2)


def build_schedule(settings: TorchParams, total_steps: int) -> Schedule:
    """The schedule of ``train.torch`` over a run of ``total_steps`` optimizer steps."""
    kind = settings.schedule
    warmup = settings.warmup if settings.warmup is not None else DEFAULT_WARMUP[kind]
    min_lr = (
        settings.min_lr
        if settings.min_lr is not None
        else settings.learning_rate * DEFAULT_MIN_LR_RATIO[kind]
    )
    cycled = kind == "one_cycle"
    return Schedule(
        kind=kind,
        peak=settings.learning_rate,
        min_lr=min_lr,
        warmup_steps=math.ceil(warmup * total_steps),
        total_steps=total_steps,
        beta1_min=settings.beta1_min if cycled else BETA1,
        beta1_max=settings.beta1_max if cycled else BETA1,
    )
