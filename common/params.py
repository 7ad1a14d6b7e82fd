"""Typed settings for each ``params.yaml`` section, validated once at stage start.

Each section is a frozen dataclass. ``load_params`` checks every key against the
dataclass annotations and raises ``PipelineError`` naming the key at fault
(``params.yaml: train.logreg.C: expected a number, got 'big'``). Unknown keys are
errors too, so a typo in ``dvc exp run -S`` cannot silently do nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from common.errors import PipelineError, find_secret

PARAMS_FILE = "params.yaml"

Label = int | str


@dataclasses.dataclass(frozen=True)
class DataParams:
    source: str = "synthetic"
    # The path or s3:// URL that dvc.yaml declares as get_data's dependency (DVC cannot
    # depend on the word "synthetic"): the data/external folder, or the same URL as `source`.
    source_dep: str = "data/external"
    synthetic_rows: int = 50_000
    seed: int = 42
    text_column: str = "Phrase"
    label_column: str = "Sentiment"
    negative_labels: tuple[Label, ...] = (0,)
    positive_labels: tuple[Label, ...] = (4,)

    def validate(self, key: str) -> None:
        if self.synthetic_rows < 1:
            raise PipelineError(f"{key}.synthetic_rows: must be at least 1, got {self.synthetic_rows}")
        if self.text_column == self.label_column:
            raise PipelineError(
                f"{key}.label_column: is {self.label_column!r}, the same column as {key}.text_column"
            )
        if not self.negative_labels or not self.positive_labels:
            raise PipelineError(f"{key}: negative_labels and positive_labels must not be empty")
        # By text: `[4]` and `["4"]` match the same rows of a string label column.
        both = set(map(str, self.negative_labels)) & set(map(str, self.positive_labels))
        if both:
            raise PipelineError(f"{key}: labels {sorted(both)} are both negative and positive")
        check_data_source(self.source, self.source_dep, key)


# What `data.source` may name (common/tables.py reads each): a .tsv or .csv, either maybe
# compressed, or a .parquet. Here, not there, so that checking params needs no pyarrow.
TABLE_SUFFIXES = (
    ".tsv",
    ".csv",
    ".parquet",
    *(f".{kind}{ext}" for kind in ("tsv", "csv") for ext in (".gz", ".zst", ".bz2")),
)
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_data_source(source: str, source_dep: str, key: str = "data") -> None:
    """``data.source`` names a table file or an s3:// object, with no credentials in it, and
    lies within ``data.source_dep``, the dependency dvc.yaml declares (otherwise DVC would
    never notice that the data changed): an s3:// source must be that very URL; a local file
    must be it or lie under it (the default: ``data/external/``). Checked with every params
    read, so the check_params stage refuses a bad source before DVC deletes ``data/raw``."""
    if source == "synthetic":
        return
    if not any(Path(source).name.endswith(suffix) for suffix in TABLE_SUFFIXES):
        raise PipelineError(
            f"{key}.source: {source!r} is not 'synthetic' or a .tsv, .csv or .parquet path"
            " (.tsv and .csv may end in .gz, .zst or .bz2) or s3:// URL"
        )
    if source.startswith("s3://"):
        # A bucket name is 3-63 characters of a-z, 0-9, "." and "-": with an "@" after anything
        # else, the URL holds a user name and password (a secret may hold "/" too).
        if "@" in source and not _S3_BUCKET.fullmatch(source.removeprefix("s3://").split("/", 1)[0]):
            raise PipelineError(
                f"{key}.source: credentials in an s3:// URL are refused (params.yaml is committed, and "
                "URLs are logged); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        if source_dep != source:
            raise PipelineError(
                f"{key}.source_dep: must be {source!r} (the same as {key}.source) so that DVC re-runs "
                f"get_data when the object changes; got {source_dep!r}"
            )
        return
    try:
        resolved, dep = Path(source).resolve(), Path(source_dep).resolve()
    except (RuntimeError, OSError):  # RuntimeError: a symlink loop (Python 3.11, 3.12)
        raise PipelineError(f"{key}.source: {source!r} or {key}.source_dep is a symlink loop") from None
    if resolved.exists() and not resolved.is_file():
        what = "a folder" if resolved.is_dir() else "not a regular file (a FIFO, a device?)"
        raise PipelineError(f"{key}.source: {source!r} is {what}; name a table file")
    if resolved != dep and dep not in resolved.parents:
        raise PipelineError(
            f"{key}.source: {source!r} is not under {key}.source_dep ({source_dep!r}), so DVC would "
            "not see it change: move it into data/external/ or set data.source_dep to it"
        )


# Values each `split.time_part` can take (inclusive); the sequential split's ranges must lie
# within them. `year` is unbounded: its ranges are plain years, e.g. train [2015, 2020).
TIME_PART_BOUNDS: dict[str, tuple[int, int] | None] = {
    "day_of_month": (1, 31),
    "day_of_week": (1, 7),
    "day_of_year": (1, 366),
    "month": (1, 12),
    "hour": (0, 23),
    "year": None,
}


# The bounds of every integer param (inclusive), checked after a section's own ``validate``:
# a value outside them would overflow, hang or exhaust memory further down (`split.modulus`
# 2**63 overflows the INT64 bucket arithmetic, `data.synthetic_rows` 1e23 never finishes,
# `train.torch.num_threads` 100000 starts 100000 threads). Seeds: what numpy, scikit-learn
# and torch all accept. tests/test_params.py checks that every integer field is listed here.
_SEED = (0, 2**32 - 1)
_INT32 = 2**31 - 1
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "data.synthetic_rows": (1, 10_000_000),
    "data.seed": _SEED,
    "split.modulus": (2, _INT32),
    "split.sample": (1, _INT32),
    "split.train": (0, _INT32),
    "split.valid": (0, _INT32),
    "split.test": (0, _INT32),
    "split.seed": _SEED,
    "train.seed": _SEED,
    "train.logreg.max_iter": (1, 10_000_000),
    "train.torch.num_threads": (1, 1024),
    "train.torch.max_vocab": (1, 10_000_000),
    "train.torch.min_count": (1, _INT32),
    "train.torch.max_tokens": (1, 1_000_000),
    "train.torch.embedding_dim": (1, 65_536),
    "train.torch.channels": (1, 65_536),
    "train.torch.kernel_size": (1, 1_001),
    "train.torch.batch_size": (1, 1_000_000),
    "train.torch.grad_accum_steps": (1, 1_000_000),
    "train.torch.training_examples": (1, 2**53),
    "train.torch.checkpoints": (1, 100_000),
    "train.torch.patience": (0, 100_000),
    "train.torch.init_from": (1, 100_000),
    "train.torch.processes": (1, 1024),
}


def check_int_bounds(key: str, value: Any) -> None:
    """``value`` (an int, or a tuple of them) within ``INT_BOUNDS[key]``, if listed."""
    bounds = INT_BOUNDS.get(key)
    if bounds is None:
        return
    for i, item in enumerate(value if isinstance(value, tuple) else (value,)):
        if not isinstance(item, int) or isinstance(item, bool):
            continue
        name = f"{key}[{i}]" if isinstance(value, tuple) else key
        if item < bounds[0]:
            raise PipelineError(f"{name}: must be at least {bounds[0]}, got {item}")
        if item > bounds[1]:
            raise PipelineError(f"{name}: must be at most {bounds[1]}, got {item}")


@dataclasses.dataclass(frozen=True)
class SplitParams:
    """``split.*``: how rows go to train/valid/test. The README's "Splitting" section documents
    each key; ``prepare_data`` implements them."""

    method: Literal["hash", "sequential"] = "hash"
    key: tuple[str, ...] = ("SentenceId",)
    modulus: int = 10
    train: tuple[int, int] = (0, 8)
    valid: tuple[int, int] = (8, 9)
    test: tuple[int, int] = (9, 10)
    sample: int = 1
    # Sequential split: the ranges are [lo, hi) of `time_part` of `time_column`.
    time_column: str = ""
    time_part: Literal["day_of_month", "day_of_week", "day_of_year", "month", "hour", "year"] = "day_of_month"
    # Split-quality checks: a pairwise KS distance above max_ks fails the stage; when unset
    # (null) the report only warns above 0.05. `seed` drives the random-split contrast only.
    max_ks: float | None = None
    seed: int = 42
    # Where the split runs: this process (local) or a PySpark job (docs/spark.md); the same
    # rows either way. spark_master: null takes $SPARK_MASTER, else local[*].
    engine: Literal["local", "spark"] = "local"
    spark_master: str | None = None

    def ranges(self) -> dict[str, tuple[int, int]]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def validate(self, key: str) -> None:
        if self.modulus < 2:
            raise PipelineError(f"{key}.modulus: must be at least 2, got {self.modulus}")
        if self.sample < 1:
            raise PipelineError(f"{key}.sample: must be at least 1, got {self.sample}")
        if self.sample > 1 and self.method == "sequential":
            raise PipelineError(
                f"{key}.sample: sampling is for method hash; method sequential keeps every row "
                f"(set sample to 1, got {self.sample})"
            )
        if self.max_ks is not None and not 0 < self.max_ks <= 1:
            raise PipelineError(f"{key}.max_ks: must be in (0, 1] or null, got {self.max_ks}")
        if len(set(self.key)) != len(self.key):
            raise PipelineError(f"{key}.key: lists a column twice: {list(self.key)}")
        ranges = self.ranges()
        for name, (lo, hi) in ranges.items():
            if self.method == "hash" and not 0 <= lo < hi <= self.modulus:
                raise PipelineError(
                    f"{key}.{name}: range [{lo}, {hi}) must satisfy 0 <= lo < hi <= modulus ({self.modulus})"
                )
            bounds = TIME_PART_BOUNDS[self.time_part]
            if self.method == "sequential" and bounds is None and not lo < hi:
                raise PipelineError(f"{key}.{name}: range [{lo}, {hi}) must satisfy lo < hi")
            if (
                self.method == "sequential"
                and bounds is not None
                and not bounds[0] <= lo < hi <= bounds[1] + 1
            ):
                raise PipelineError(
                    f"{key}.{name}: range [{lo}, {hi}) must lie within [{bounds[0]}, {bounds[1] + 1}) "
                    f"(time_part {self.time_part} runs from {bounds[0]} to {bounds[1]})"
                )
        names = list(ranges)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                (alo, ahi), (blo, bhi) = ranges[a], ranges[b]
                if alo < bhi and blo < ahi:
                    raise PipelineError(f"{key}.{a} [{alo}, {ahi}) overlaps {key}.{b} [{blo}, {bhi})")
        if self.spark_master is not None and not self.spark_master:
            raise PipelineError(
                f"{key}.spark_master: an empty master URL (use null for $SPARK_MASTER or local[*])"
            )
        if self.method == "sequential" and not self.time_column:
            raise PipelineError(f"{key}.time_column: required by method sequential (the date or time column)")


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
class NbParams:
    alpha: float = 1.0  # additive (Laplace/Lidstone) smoothing
    norm: bool = False  # normalize the weights a second time (Rennie et al. 2003)

    def validate(self, key: str) -> None:
        if self.alpha <= 0:
            raise PipelineError(f"{key}.alpha: must be positive, got {self.alpha}")


@dataclasses.dataclass(frozen=True)
class TorchParams:
    """Settings of the PyTorch text classifier (``train.model: torch``); see docs/torch.md."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = 1
    max_vocab: int = 20_000
    min_count: int = 2
    max_tokens: int = 256
    embedding_dim: int = 64
    channels: int = 64
    kernel_size: int = 1
    dropout: float = 0.2
    batch_size: int = 64
    grad_accum_steps: int = 1
    bucket_ratio: float = 1.5
    learning_rate: float = 0.003
    weight_decay: float = 0.0001
    # Learning-rate schedule (train/schedules.py, docs/torch.md). warmup and min_lr: null takes
    # the schedule's own default (warm-up 0.05, or 0.3 for one_cycle; min_lr 0 for linear,
    # learning_rate / 20 otherwise). beta1_min and beta1_max: one_cycle's AdamW beta1 cycle.
    schedule: Literal["linear", "cosine", "one_cycle"] = "linear"
    warmup: float | None = None
    min_lr: float | None = None
    beta1_min: float = 0.85
    beta1_max: float = 0.95
    # The example budget: stop_point x train rows, or (stop_point null) training_examples.
    stop_point: float | None = 4.0
    training_examples: int | None = None
    checkpoints: int = 8
    patience: int = 0
    # last: only the resume state, emptied by a finished run; all: every virtual epoch's
    # checkpoint stays in checkpoints/. init_from: start from a kept virtual epoch or a file.
    keep_checkpoints: Literal["last", "all"] = "last"
    init_from: int | str | None = None
    # Processes of one run under torch.distributed.run (DistributedDataParallel, docs/distributed.md).
    processes: int = 1

    def validate(self, key: str) -> None:
        at_least_one = {
            "num_threads": self.num_threads,
            "max_vocab": self.max_vocab,
            "min_count": self.min_count,
            "max_tokens": self.max_tokens,
            "embedding_dim": self.embedding_dim,
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "batch_size": self.batch_size,
            "grad_accum_steps": self.grad_accum_steps,
            "checkpoints": self.checkpoints,
            "processes": self.processes,
        }
        for name, value in at_least_one.items():
            if value < 1:
                raise PipelineError(f"{key}.{name}: must be at least 1, got {value}")
        if self.kernel_size % 2 == 0:
            raise PipelineError(
                f"{key}.kernel_size: must be odd (same-length convolution), got {self.kernel_size}"
            )
        if not 0 <= self.dropout < 1:
            raise PipelineError(f"{key}.dropout: must be in [0, 1), got {self.dropout}")
        if self.bucket_ratio <= 1:
            raise PipelineError(f"{key}.bucket_ratio: must be greater than 1, got {self.bucket_ratio}")
        if self.learning_rate <= 0:
            raise PipelineError(f"{key}.learning_rate: must be positive, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise PipelineError(f"{key}.weight_decay: must not be negative, got {self.weight_decay}")
        if self.warmup is not None and not 0 <= self.warmup < 1:
            raise PipelineError(f"{key}.warmup: must be in [0, 1) or null, got {self.warmup}")
        if self.min_lr is not None and not 0 <= self.min_lr < self.learning_rate:
            raise PipelineError(
                f"{key}.min_lr: must be in [0, learning_rate {self.learning_rate}) or null, got {self.min_lr}"
            )
        if not 0 <= self.beta1_min <= self.beta1_max < 1:
            raise PipelineError(
                f"{key}.beta1_min, {key}.beta1_max: must satisfy 0 <= beta1_min <= beta1_max < 1, "
                f"got {self.beta1_min} and {self.beta1_max}"
            )
        if (self.stop_point is None) == (self.training_examples is None):
            raise PipelineError(
                f"{key}.training_examples: set exactly one of stop_point and training_examples "
                f"(the other null), got stop_point {self.stop_point} and training_examples {self.training_examples}"
            )
        if self.stop_point is not None and self.stop_point <= 0:
            raise PipelineError(f"{key}.stop_point: must be positive, got {self.stop_point}")
        if self.training_examples is not None and self.training_examples < 1:
            raise PipelineError(f"{key}.training_examples: must be at least 1, got {self.training_examples}")
        if isinstance(self.init_from, int) and self.init_from < 1:
            raise PipelineError(
                f"{key}.init_from: a virtual epoch (1, 2, ...), a checkpoint path or null, got {self.init_from}"
            )
        if isinstance(self.init_from, str) and not self.init_from:
            raise PipelineError(f"{key}.init_from: an empty path (use null to train from scratch)")
        if self.patience < 0:
            raise PipelineError(
                f"{key}.patience: must not be negative (0 = no early stopping), got {self.patience}"
            )


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """``train.*``: ``model`` names one of the model sections below (a dataclass field each, named
    after its model); train/registry.py says how each is trained. docs/models.md: adding one."""

    model: ModelName = "logreg"
    seed: int = 42
    logreg: LogregParams = LogregParams()
    svm: SvmParams = SvmParams()
    nb: NbParams = NbParams()
    torch: TorchParams = TorchParams()

    @property
    def model_params(self) -> Any:
        """The chosen model's section (``train.logreg`` for ``model: logreg``)."""
        return getattr(self, self.model)


# `train.model`'s choices: the names of TrainParams' model sections, in order, so adding a
# model's section adds its name (and the schema's enum). The annotation `model: ModelName` is
# a string until get_type_hints resolves it, when params are loaded, after this line has run.
MODEL_NAMES: tuple[str, ...] = tuple(
    field.name for field in dataclasses.fields(TrainParams) if dataclasses.is_dataclass(field.default)
)
ModelName = Literal[MODEL_NAMES]  # type: ignore[valid-type]


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    pass


@dataclasses.dataclass(frozen=True)
class PredictParams:
    """``predict.*``: the predict stage's keyed predictions of the test split. With no key
    columns (the default, which every file has) the key is ``row``, the row's number in the
    test split, which predict writes."""

    key: tuple[str, ...] = ()

    def validate(self, key: str) -> None:
        if len(set(self.key)) != len(self.key):
            raise PipelineError(f"{key}.key: lists a column twice: {list(self.key)}")


@dataclasses.dataclass(frozen=True)
class Params:
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    predict: PredictParams = PredictParams()


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
        others = [option for option in options if option is not type(None)]
        if len(others) == 1:  # an optional value: its own type's error says what is wrong
            return _coerce(value, others[0], key)
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
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise PipelineError(f"{key}: expected a finite number, got {_describe(value)}")
        return number
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
        name = unknown[0] if unknown[0].isprintable() else repr(unknown[0])  # one line, whatever the key
        raise PipelineError(f"{_child(key, name)}: unknown key (known: {', '.join(fields) or 'none'})")
    hints = get_type_hints(cls)
    values = {name: _coerce(raw[name], hints[name], _child(key, name)) for name in fields if name in raw}
    section = cls(**values)
    validate = getattr(section, "validate", None)
    if validate is not None:
        validate(key)  # first: its messages say more (`init_from: a virtual epoch (1, 2, ...)`)
    for name, value in values.items():
        check_int_bounds(_child(key, name), value)
    return section


def check_nodes(node: Node | None, prefix: str = "", seen: set[int] | None = None) -> None:
    """Refuse what DVC reads differently, or what would cost more than the file's size to
    read: a key given twice (PyYAML kept the last one; DVC refuses the file), a key that is
    not a plain scalar (``? [a, b]``), and any alias (``*name``): nine nested levels of them
    ("billion laughs") stand for 9**9 values, which a walk over the data would visit one by one.
    Each node is visited once, so this takes time in proportion to the file."""
    seen = set() if seen is None else seen
    if node is None:
        return
    if id(node) in seen:  # the composer hands out the anchored node again for each alias
        raise PipelineError(
            f"{prefix or 'the document'}: an alias of the value at line {node.start_mark.line + 1}; YAML "
            "anchors and aliases (&name, *name) are not supported in params.yaml: write the value out"
        )
    seen.add(id(node))
    if isinstance(node, MappingNode):
        lines: dict[object, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                raise PipelineError(f"{prefix or 'the document'}: line {line}: a key must be a plain name")
            key = key_node.value
            name = _child(prefix, str(key))
            if key in lines:
                raise PipelineError(f"{name}: given twice (lines {lines[key]} and {line}); keep one")
            lines[key] = line
            check_nodes(value_node, name, seen)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            check_nodes(item, f"{prefix}[{i}]", seen)


def _dvc_yaml() -> YAML:
    """The parser DVC reads params.yaml with (dvc/utils/serialize/_yaml.py: ``YAML(typ="safe")``,
    YAML 1.2): ``012`` is 12, ``1:30`` and ``yes`` are strings. PyYAML follows YAML 1.1 (10, 90
    and True), so the stages would run on other values than dvc.lock records."""
    return YAML(typ="safe")


def parse_yaml_as_dvc(text: str) -> Any:
    """A YAML document (``dvc.lock``) parsed as DVC parses it."""
    return _dvc_yaml().load(text)


def read_params_yaml(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """``params.yaml`` as plain data, read exactly as DVC reads it, after the checks of
    ``check_nodes``; errors name the file and the line or key. Every reader of params.yaml goes
    through here (the stages, check_params, the benchmarks)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run from the repository root)") from None
    except OSError as error:
        raise PipelineError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PipelineError(
            f"{path}: line {line} (byte offset {error.start}) is not UTF-8 (bytes {data[error.start : error.end].hex(' ')})"
        ) from None
    try:
        check_nodes(_dvc_yaml().compose(text))
        raw = _dvc_yaml().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}:{where} is not valid YAML") from None
    except RecursionError:  # thousands of nested [ or {: the parser recurses once per level
        raise PipelineError(f"{path}: nested too deep to read (a params file has a few levels)") from None
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None
    if raw is None:
        # DVC fails on a params.yaml without the keys dvc.yaml names; the stages do too.
        raise PipelineError(f"{path}: is empty (restore it: git checkout params.yaml)")
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {_describe(raw)}")
    return raw


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``; missing sections and keys take their defaults."""
    raw = read_params_yaml(path)
    try:
        check_no_secrets(raw)
        return build_section(Params, raw, "")
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def as_dict(section: Any) -> dict[str, Any]:
    """A section as plain data (lists, not tuples), e.g. to record in a model's metadata."""
    return typing.cast(dict[str, Any], _plain(dataclasses.asdict(section)))


def check_no_secrets(value: Any, key: str = "") -> None:
    """Refuse a URL with a user name and password, or a signed URL (``X-Amz-Signature=``), in
    any param: params.yaml is committed, DVC prints its dependencies' paths, and the stages log
    their sources. The error names the key, never the value."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_no_secrets(item, _child(key, str(name)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_no_secrets(item, f"{key}[{i}]")
    elif isinstance(value, str):
        kind = find_secret(value)
        if kind is not None:
            raise PipelineError(
                f"{key}: holds {kind} (not shown); params.yaml is committed and URLs are logged: "
                "give credentials through the environment (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), never in a param"
            )
