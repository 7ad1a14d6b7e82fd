"""``train.torch.*``, the torch model's section of params.yaml: a pydantic model like the core's
sections (common/params.py), which declares it in ``TrainParams``. No torch here: reading
params costs a scikit-learn run nothing."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from common.errors import PipelineError
from common.section import INT32, Section


def _count(default: int, maximum: int, description: str) -> Any:
    """A field that counts something: from 1 up to ``maximum``."""
    return Field(default, ge=1, le=maximum, description=description)


class TorchParams(Section):
    """``train.torch.*``: the PyTorch text classifier (``train.model: torch``); torch_model/README.md."""

    KEY = "train.torch"
    # The description of ``train.torch`` in TrainParams (common/params.py).
    TITLE: ClassVar[str] = "the PyTorch text classifier"
    DOCS = "torch_model/README.md#every-traintorch-key"
    EXTRA = ("torch", "torch")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto` (CUDA when present, else CPU), `cpu` or `cuda`"
    )
    num_threads: int = _count(1, 1024, "torch CPU threads; bit-for-bit results hold for a fixed count")
    max_vocab: int = _count(20_000, 10_000_000, "vocabulary: the most frequent train tokens kept")
    min_count: int = _count(2, INT32, "tokens seen fewer times in train are `<unk>`")
    max_tokens: int = _count(256, 1_000_000, "tokens kept per text")
    embedding_dim: int = _count(64, 65_536, "embedding size")
    channels: int = _count(64, 65_536, "convolution filters")
    kernel_size: int = _count(1, 1_001, "words per filter (odd); 3 sees word trigrams")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout before the output layer")
    batch_size: int = _count(64, 1_000_000, "examples per micro-batch")
    grad_accum_steps: int = _count(1, 1_000_000, "micro-batches per optimizer step")
    bucket_ratio: float = Field(1.5, gt=1, description="a length bucket spans `[L, L * ratio)` tokens")
    learning_rate: float = Field(0.003, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(0.0001, ge=0, description="AdamW decoupled weight decay")
    schedule: Literal["linear", "cosine", "one_cycle"] = Field(
        "linear",
        description="`linear`, `cosine` or `one_cycle` ([schedules](torch_model/README.md#learning-rate-schedules))",
    )
    warmup: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="share of the steps warming up; null: 0.05 (`linear`, `cosine`), 0.3 (`one_cycle`)",
    )
    min_lr: float | None = Field(
        None,
        ge=0,
        description="rate at the end of the decay (and `one_cycle`'s start); null: 0 (`linear`), "
        "`learning_rate` / 20",
    )
    beta1_min: float = Field(0.85, ge=0, lt=1, description="`one_cycle`: AdamW beta1 at the peak rate")
    beta1_max: float = Field(0.95, ge=0, lt=1, description="`one_cycle`: AdamW beta1 at the start and end")
    stop_point: float | None = Field(
        4.0,
        gt=0,
        description="examples seen in all, in passes over the train split; null to use `training_examples`",
    )
    training_examples: int | None = Field(
        None,
        ge=1,
        le=2**53,
        description="a fixed number of examples seen in all, whatever the data size (with `stop_point: null`)",
    )
    checkpoints: int = _count(8, 100_000, "virtual epochs: a valid evaluation and a checkpoint after each")
    patience: int = Field(
        0,
        ge=0,
        le=100_000,
        description="stop after this many virtual epochs without a lower valid loss; 0 never stops early",
    )
    keep_checkpoints: Literal["last", "all"] = Field(
        "last",
        description="`last`: resume state only, emptied when done; `all`: keep every virtual epoch's checkpoint",
    )
    init_from: Annotated[int, Field(ge=1, le=100_000)] | str | None = Field(
        None, description="start from a kept virtual epoch (`3`) or a checkpoint file (`path/x.pt`)"
    )
    processes: int = _count(
        1,
        1024,
        "above 1: that many processes train one model (DistributedDataParallel under "
        "`torch.distributed.run`, [docs](torch_model/README.md#several-processes-traintorchprocesses))",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        key = self.KEY
        if self.kernel_size % 2 == 0:
            raise PipelineError(
                f"{key}.kernel_size: must be odd (same-length convolution), got {self.kernel_size}"
            )
        if self.min_lr is not None and not self.min_lr < self.learning_rate:
            raise PipelineError(
                f"{key}.min_lr: must be in [0, learning_rate {self.learning_rate}) or null, got {self.min_lr}"
            )
        if self.beta1_min > self.beta1_max:
            raise PipelineError(
                f"{key}.beta1_min, {key}.beta1_max: must satisfy 0 <= beta1_min <= beta1_max < 1, "
                f"got {self.beta1_min} and {self.beta1_max}"
            )
        if (self.stop_point is None) == (self.training_examples is None):
            raise PipelineError(
                f"{key}.training_examples: set exactly one of stop_point and training_examples "
                f"(the other null), got stop_point {self.stop_point} and training_examples {self.training_examples}"
            )
        if isinstance(self.init_from, str) and not self.init_from:
            raise PipelineError(f"{key}.init_from: an empty path (use null to train from scratch)")
        return self
