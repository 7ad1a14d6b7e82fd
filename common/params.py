"""Typed settings for each ``params.yaml`` section, validated once at stage start.

Each section is a frozen dataclass. ``load_params`` checks every key against the
dataclass annotations and raises ``PipelineError`` naming the key at fault
(``params.yaml: train.logreg.C: expected a number, got 'big'``). Unknown keys are
errors too, so a typo in ``dvc exp run -S`` cannot silently do nothing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from common.errors import PipelineError

PARAMS_FILE = "params.yaml"

Label = int | str


@dataclasses.dataclass(frozen=True)
class DataParams:
    source: str = "synthetic"
    synthetic_rows: int = 50_000
    seed: int = 42
    text_column: str = "Phrase"
    label_column: str = "Sentiment"
    negative_labels: tuple[Label, ...] = (0,)
    positive_labels: tuple[Label, ...] = (4,)

    def validate(self, key: str) -> None:
        if self.synthetic_rows < 1:
            raise PipelineError(f"{key}.synthetic_rows: must be at least 1, got {self.synthetic_rows}")
        if not self.negative_labels or not self.positive_labels:
            raise PipelineError(f"{key}: negative_labels and positive_labels must not be empty")
        both = set(self.negative_labels) & set(self.positive_labels)
        if both:
            raise PipelineError(f"{key}: labels {sorted(map(str, both))} are both negative and positive")


@dataclasses.dataclass(frozen=True)
class SplitParams:
    method: Literal["hash", "sequential"] = "hash"
    key: tuple[str, ...] = ("SentenceId",)
    modulus: int = 10
    train: tuple[int, int] = (0, 8)
    valid: tuple[int, int] = (8, 9)
    test: tuple[int, int] = (9, 10)
    sample: int = 1

    def validate(self, key: str) -> None:
        if self.modulus < 2:
            raise PipelineError(f"{key}.modulus: must be at least 2, got {self.modulus}")
        if self.sample < 1:
            raise PipelineError(f"{key}.sample: must be at least 1, got {self.sample}")
        ranges = {"train": self.train, "valid": self.valid, "test": self.test}
        for name, (lo, hi) in ranges.items():
            if not 0 <= lo < hi <= self.modulus:
                raise PipelineError(
                    f"{key}.{name}: range [{lo}, {hi}) must satisfy 0 <= lo < hi <= modulus ({self.modulus})"
                )
        names = list(ranges)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                (alo, ahi), (blo, bhi) = ranges[a], ranges[b]
                if alo < bhi and blo < ahi:
                    raise PipelineError(f"{key}.{a} [{alo}, {ahi}) overlaps {key}.{b} [{blo}, {bhi})")


@dataclasses.dataclass(frozen=True)
class LogregParams:
    C: float = 100_000.0
    max_iter: int = 1000

    def validate(self, key: str) -> None:
        if self.C <= 0:
            raise PipelineError(f"{key}.C: must be positive, got {self.C}")
        if self.max_iter < 1:
            raise PipelineError(f"{key}.max_iter: must be at least 1, got {self.max_iter}")


@dataclasses.dataclass(frozen=True)
class SvmParams:
    C: float = 1.0

    def validate(self, key: str) -> None:
        if self.C <= 0:
            raise PipelineError(f"{key}.C: must be positive, got {self.C}")


@dataclasses.dataclass(frozen=True)
class TorchParams:
    """Settings of the PyTorch text classifier (``train.model: torch``)."""


@dataclasses.dataclass(frozen=True)
class TrainParams:
    model: Literal["logreg", "svm", "torch"] = "logreg"
    seed: int = 42
    logreg: LogregParams = LogregParams()
    svm: SvmParams = SvmParams()
    torch: TorchParams = TorchParams()


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    pass


@dataclasses.dataclass(frozen=True)
class Params:
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()


T = TypeVar("T")


def _describe(value: Any) -> str:
    return f"{value!r}" if not isinstance(value, dict | list) else type(value).__name__


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in the dataclass's types."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise PipelineError(f"{key}: expected a mapping, got {_describe(value)}")
        return build_section(tp, value, key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise PipelineError(f"{key}: expected one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except PipelineError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise PipelineError(f"{key}: expected {names}, got {_describe(value)}")
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list | tuple):
            raise PipelineError(f"{key}: expected a list, got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise PipelineError(f"{key}: expected a list of {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if tp is bool:
        if not isinstance(value, bool):
            raise PipelineError(f"{key}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PipelineError(f"{key}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PipelineError(f"{key}: expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise PipelineError(f"{key}: expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def _child(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def build_section(cls: type[T], raw: dict[str, Any], key: str) -> T:
    """Build the dataclass ``cls`` from ``raw``, naming ``key`` in every error."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, raw)) - set(fields))
    if unknown:
        raise PipelineError(f"{_child(key, unknown[0])}: unknown key (known: {', '.join(fields) or 'none'})")
    hints = get_type_hints(cls)
    values = {name: _coerce(raw[name], hints[name], _child(key, name)) for name in fields if name in raw}
    section = cls(**values)
    validate = getattr(section, "validate", None)
    if validate is not None:
        validate(key)
    return section


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``; missing sections and keys take their defaults."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run from the repository root)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}:{where} is not valid YAML") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {_describe(raw)}")
    try:
        return build_section(Params, raw, "")
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None


def as_dict(section: Any) -> dict[str, Any]:
    """A section as plain data (lists, not tuples), e.g. to record in a model's metadata."""
    return typing.cast(dict[str, Any], yaml.safe_load(yaml.safe_dump(dataclasses.asdict(section))))
