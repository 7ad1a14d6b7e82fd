"""Typed settings for each ``params.yaml`` section, validated once at stage start.

Each section is a frozen pydantic model: unknown keys are refused (``extra="forbid"``, so a
typo in ``dvc exp run -S`` cannot silently do nothing), types are strict (``1.5`` is not an
integer, ``"5"`` is not a number), and bounds are field constraints. ``load_params`` turns
pydantic's report into one line naming the key at fault
(``params.yaml: train.logreg.C: expected a number, got 'big'``). Rules that tie keys together
are each section's ``_check``. The fields' descriptions feed params.schema.json and the
README's table (``make schema``, common/params_schema.py).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar, get_args

from pydantic import Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from common.errors import PipelineError, find_secret
from common.section import INT32, Section
from torch_model.params import TorchParams  # optional part: torch_model

PARAMS_FILE = "params.yaml"
# A params file is a few KB. Parsing YAML costs about 10 s per MB (100,000 keys in 1.5 MB took
# 14 s and 240 MB): a larger file is refused unread.
MAX_PARAMS_BYTES = 256 * 1024

# Integer bounds: a value outside them would overflow, hang or exhaust memory further down
# (`split.modulus` 2**63 overflows the INT64 bucket arithmetic, `data.synthetic_rows` 1e23 never
# finishes). Seeds: what numpy, scikit-learn and torch all accept.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
Count = Annotated[int, Field(ge=1, le=INT32)]
RangeEnd = Annotated[int, Field(ge=0, le=INT32)]
# A label as it appears in the file: a number (of an int64 column) or a text.
Label = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | str


class DataParams(Section):
    """``data.*``: where the rows come from, and which columns hold the text and the label."""

    KEY = "data"
    source: str = Field(
        "synthetic",
        description="`synthetic`, a local `.tsv`/`.csv` (also `.gz`/`.zst`/`.bz2`) or `.parquet` path, "
        "or `s3://bucket/key` ([Data in S3](docs/remotes.md#data-in-s3), [formats](docs/data.md))",
    )
    # DVC cannot depend on the word "synthetic": the data/external folder, or the URL of `source`.
    source_dep: str = Field(
        "data/external",
        description="get_data's DVC dependency: `data/external`, or the same `s3://` URL as `data.source`",
    )
    synthetic_rows: int = Field(50_000, ge=1, le=10_000_000, description="size of the generated data set")
    seed: Seed = Field(42, description="seed of the generated data set")
    text_column: str = Field("Phrase", description="column with the text")
    label_column: str = Field("Sentiment", description="column with the raw label")
    negative_labels: tuple[Label, ...] = Field((0,), description="raw labels mapped to 0")
    positive_labels: tuple[Label, ...] = Field(
        (4,), description="raw labels mapped to 1; rows with other labels are dropped"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        key = self.KEY
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
        return self


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
        exists, is_file, is_dir = resolved.exists(), resolved.is_file(), resolved.is_dir()
    except ValueError:  # pathlib's "embedded null byte"
        raise PipelineError(f"{key}.source: a path cannot hold a NUL character") from None
    except (RuntimeError, OSError) as error:  # RuntimeError: a symlink loop (Python 3.11, 3.12)
        if isinstance(error, RuntimeError) or error.errno == errno.ELOOP:
            raise PipelineError(f"{key}.source: {source!r} or {key}.source_dep is a symlink loop") from None
        raise PipelineError(
            f"{key}.source: {source!r} cannot be looked up: {error.strerror or error}"
        ) from None
    if exists and not is_file:
        what = "a folder" if is_dir else "not a regular file (a FIFO, a device?)"
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


TimePart = Literal["day_of_month", "day_of_week", "day_of_year", "month", "hour", "year"]
# `split.engine`'s choices: the local engine, and the optional engines (prepare_data/__main__.py).
SPLIT_ENGINES: tuple[str, ...] = (
    "local",
    "spark",  # optional part: spark_engine
)
SplitEngineName = Literal[SPLIT_ENGINES]  # type: ignore[valid-type]


class SplitParams(Section):
    """``split.*``: how rows go to train/valid/test. docs/splitting.md documents each key;
    ``prepare_data`` implements them."""

    KEY = "split"
    method: Literal["hash", "sequential"] = Field(
        "hash",
        description="`hash`, or `sequential` for time series "
        "([Splitting](docs/splitting.md#splitting-prepare_data))",
    )
    key: tuple[str, ...] = Field(
        ("SentenceId",),
        description="columns hashed together (`CONCAT` of `CAST(x AS STRING)`); `[]` hashes the whole row",
    )
    modulus: int = Field(10, ge=2, le=INT32, description="number of buckets, at least 2")
    train: tuple[RangeEnd, RangeEnd] = Field(
        (0, 8),
        description="`[lo, hi)` range of the train split: of the bucket (hash), of `time_part` (sequential)",
    )
    valid: tuple[RangeEnd, RangeEnd] = Field((8, 9), description="`[lo, hi)` range of the valid split")
    test: tuple[RangeEnd, RangeEnd] = Field((9, 10), description="`[lo, hi)` range of the test split")
    sample: Count = Field(
        1,
        description="hash split: keep the keys with `ABS(MOD(fp, sample)) = 0` (repeatable sampling); "
        "1 keeps all",
    )
    time_column: str = Field("", description="sequential: the date or time column")
    time_part: TimePart = Field(
        "day_of_month",
        description="sequential: `day_of_month`, `day_of_week`, `day_of_year`, `month`, `hour` or `year`",
    )
    # Split-quality checks: `seed` drives the random-split contrast only.
    max_ks: float | None = Field(
        None,
        gt=0,
        le=1,
        description="a pairwise KS distance above it fails the stage; `null`: warn above 0.05",
    )
    seed: Seed = Field(
        42, description="seed of the random split the report compares with (changes no output row)"
    )
    engine: SplitEngineName = Field(
        "local", description="`local`, or `spark`: the same split, row for row, as a PySpark job"
    )
    spark_master: str | None = Field(
        None,
        min_length=1,
        description="`spark`: a master URL; `null`: `$SPARK_MASTER`, else `local[*]`",
    )

    def ranges(self) -> dict[str, tuple[int, int]]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    @model_validator(mode="after")
    def _check(self) -> Self:
        key = self.KEY
        if self.sample > 1 and self.method == "sequential":
            raise PipelineError(
                f"{key}.sample: sampling is for method hash; method sequential keeps every row "
                f"(set sample to 1, got {self.sample})"
            )
        if len(set(self.key)) != len(self.key):
            raise PipelineError(f"{key}.key: lists a column twice: {list(self.key)}")
        check_ranges(self, key)
        if self.method == "sequential" and not self.time_column:
            raise PipelineError(f"{key}.time_column: required by method sequential (the date or time column)")
        return self


def check_ranges(split: SplitParams, key: str) -> None:
    """Each split's ``[lo, hi)`` within the buckets (hash) or the time part's values
    (sequential), and no two overlapping."""
    ranges = split.ranges()
    bounds = TIME_PART_BOUNDS[split.time_part]  # the sequential split's; None for years
    for name, (lo, hi) in ranges.items():
        if split.method == "hash" and not 0 <= lo < hi <= split.modulus:
            raise PipelineError(
                f"{key}.{name}: range [{lo}, {hi}) must satisfy 0 <= lo < hi <= modulus ({split.modulus})"
            )
        if split.method == "hash":
            continue
        if bounds is None and not lo < hi:
            raise PipelineError(f"{key}.{name}: range [{lo}, {hi}) must satisfy lo < hi")
        if bounds is not None and not bounds[0] <= lo < hi <= bounds[1] + 1:
            raise PipelineError(
                f"{key}.{name}: range [{lo}, {hi}) must lie within [{bounds[0]}, {bounds[1] + 1}) "
                f"(time_part {split.time_part} runs from {bounds[0]} to {bounds[1]})"
            )
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (alo, ahi), (blo, bhi) = ranges[a], ranges[b]
            if alo < bhi and blo < ahi:
                raise PipelineError(f"{key}.{a} [{alo}, {ahi}) overlaps {key}.{b} [{blo}, {bhi})")


class LogregParams(Section):
    """``train.logreg.*``: scikit-learn's LogisticRegression."""

    C: float = Field(100_000.0, gt=0, description="inverse regularization strength")
    max_iter: int = Field(1000, ge=1, le=10_000_000, description="solver iterations at most")


class SvmParams(Section):
    """``train.svm.*``: scikit-learn's LinearSVC."""

    C: float = Field(1.0, gt=0, description="inverse regularization strength")


class NbParams(Section):
    """``train.nb.*``: scikit-learn's ComplementNB."""

    alpha: float = Field(1.0, gt=0, description="additive (Laplace/Lidstone) smoothing")
    norm: bool = Field(False, description="normalize the weights a second time (Rennie et al. 2003)")


class TrainParams(Section):
    """``train.*``: ``model`` names one of the model sections below (a field each, named after
    its model); train/registry.py says how each is trained. docs/models.md: adding one."""

    KEY = "train"
    # `ModelName` is made from this class's own sections, below; model_rebuild() resolves it.
    model: ModelName = Field(
        "logreg", description="`logreg`, `svm`, `nb` or `torch` ([Models](README.md#models))"
    )
    seed: Seed = Field(42, description="seed of every random choice in training")
    logreg: LogregParams = Field(LogregParams(), description="logistic regression")
    svm: SvmParams = Field(SvmParams(), description="linear SVM")
    nb: NbParams = Field(NbParams(), description="complement naive Bayes")
    torch: TorchParams = Field(TorchParams(), description=TorchParams.TITLE)  # optional part: torch_model

    @property
    def model_params(self) -> Any:
        """The chosen model's section (``train.logreg`` for ``model: logreg``)."""
        return getattr(self, self.model)


# `train.model`'s choices: the names of TrainParams' model sections, in order, so adding a
# model's section adds its name (and the schema's enum).
MODEL_NAMES: tuple[str, ...] = tuple(
    name for name, field in TrainParams.model_fields.items() if isinstance(field.default, Section)
)
ModelName = Literal[MODEL_NAMES]  # type: ignore[valid-type]
TrainParams.model_rebuild()


class EvaluateParams(Section):
    """``evaluate.*``: no keys yet; the section is there for `dvc.yaml`'s params list."""


class PredictParams(Section):
    """``predict.*``: the predict stage's keyed predictions of the test split. With no key
    columns (the default, which every file has) the key is ``row``, the row's number in the
    test split, which predict writes."""

    KEY = "predict"
    key: tuple[str, ...] = Field(
        (),
        description="key columns of the predict stage's `data/predictions/test.parquet`; `[]`: `row`, "
        "the test split's row number, which every file has",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.key)) != len(self.key):
            raise PipelineError(f"{self.KEY}.key: lists a column twice: {list(self.key)}")
        return self


class Params(Section):
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    predict: PredictParams = PredictParams()


S = TypeVar("S", bound=Section)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, int) and value.bit_length() > 256:  # repr fails past 4300 digits
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return "list" if isinstance(value, list | tuple) else repr(value)


# pydantic's error types, as the one-line messages of the stages. A union's member errors come
# tagged with the member's type (`int`, `str`, `constrained-int`): one message names them all.
_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "finite_number": "a finite number",
    "none_required": "null",
}
_UNION_TAGS = {
    "int",
    "str",
    "float",
    "bool",
    "none",
    "constrained-int",
    "constrained-float",
    "constrained-str",
}


def _dotted(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            name = part if part.isprintable() else repr(part)  # one line, whatever the key
            key = f"{key}.{name}" if key else name
    return key


def _bound(error: ErrorDetails) -> str:
    ctx, got = error.get("ctx", {}), _describe(error["input"])
    words = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    if ctx.get("gt") == 0:
        return f"must be positive, got {got}"
    for name, word in words.items():
        if name in ctx:
            return f"must be {word} {ctx[name]}, got {got}"
    if "min_length" in ctx:
        return f"must not be empty, got {got}"
    raise AssertionError(error)


def _union_message(errors: list[ErrorDetails], loc: tuple[int | str, ...]) -> str:
    """One message for a union's member errors (``int | str``): the member of the right type
    out of bounds, or every type the key may take."""
    first = errors[0]
    if first["type"] not in _EXPECTED:
        return _bound(first)
    options = [_EXPECTED[e["type"]] for e in errors if e["loc"][:-1] == loc and e["type"] in _EXPECTED]
    return f"expected {' or '.join(options)}, got {_describe(first['input'])}"


def _field_message(error: ErrorDetails, owner: type[Section]) -> str:
    """The message for one key of ``owner`` (the section that holds it)."""
    kind, got, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind == "extra_forbidden":
        return f"unknown key (known: {', '.join(owner.model_fields) or 'none'})"
    if kind == "literal_error":
        choices = get_args(owner.model_fields[str(error["loc"][-1])].annotation)
        return f"expected one of {', '.join(map(str, choices))}; got {got!r}"
    if kind in ("too_short", "too_long"):
        return f"expected a list of {ctx.get('max_length') or ctx.get('min_length')} items, got {len(got)}"
    if kind in ("float_type", "finite_number") and isinstance(got, int) and not isinstance(got, bool):
        return f"expected a finite number, got {_describe(got)}"  # an int too large for a float
    if kind == "missing" and isinstance(error["loc"][-1], int):  # a fixed-length list, too short
        return "missing: the list has too few items"
    if kind == "string_unicode":
        return "holds a character that is not valid Unicode (a lone surrogate)"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_describe(got)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than", "string_too_short"):
        return _bound(error)
    return error["msg"]


def describe_error(error: ValidationError, section: type[Section], prefix: str = "") -> str:
    """The first of pydantic's errors as one line naming the key: ``split.modulus: must be at
    least 2, got 1``. ``prefix``: the section's own key in params.yaml."""
    errors = error.errors(include_url=False)
    loc = errors[0]["loc"]
    if loc and loc[-1] in _UNION_TAGS:
        message = _union_message(errors, loc[:-1])
        loc = loc[:-1]
    else:
        owner: Any = section  # the section that holds the key
        for part in loc[:-1]:
            owner = owner.model_fields[part].annotation if isinstance(part, str) else owner
        message = _field_message(errors[0], owner)
    return f"{_dotted((prefix, *loc) if prefix else loc)}: {message}"


def parse_section(section: type[S], raw: Any, key: str = "") -> S:
    """Build ``section`` from plain data; every error is one ``PipelineError`` line naming the
    key, prefixed by ``key`` (the section's place in params.yaml)."""
    try:
        return section.model_validate(raw)
    except ValidationError as error:
        raise PipelineError(describe_error(error, section, key)) from None


def updated(section: S, **changes: Any) -> S:
    """A copy of ``section`` with ``changes``, validated like params.yaml."""
    return parse_section(type(section), {**section.model_dump(), **changes})


def _child(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


_STR_TAG = "tag:yaml.org,2002:str"
_KEY_KINDS = {
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "null": "null",
    "timestamp": "a date",
}


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
            if key_node.tag != _STR_TAG:  # `true:`, `1:`, `~:` read as a bool, int or null
                kind = _KEY_KINDS.get(str(key_node.tag).rsplit(":", 1)[-1], "no name")
                raise PipelineError(
                    f"{prefix or 'the document'}: line {line}: the key {key!r} reads as {kind}, not a name"
                )
            name = _child(prefix, str(key) if str(key).isprintable() else repr(key))  # one line
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
        if not path.is_file():  # a FIFO would block, /dev/zero would never end
            raise PipelineError(f"{path}: not found, or not a regular file (run from the repository root)")
        with path.open("rb") as file:
            data = file.read(MAX_PARAMS_BYTES + 1)
    except OSError as error:
        raise PipelineError(f"{path}: cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_PARAMS_BYTES:
        raise PipelineError(f"{path}: larger than {MAX_PARAMS_BYTES // 1024} KiB; a params file is a few KB")
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
    except (ValueError, KeyError, TypeError, AssertionError):
        # What the constructor cannot build: `!!int abc`, a date like 2001-13-45, an integer of
        # more than 4300 digits, a repeated !!omap key. Its message may hold the value: not shown.
        raise PipelineError(
            f"{path}: holds a value that its YAML form or tag cannot hold (such as !!int abc, or a date "
            "like 2001-13-45); quote it to make it a string"
        ) from None
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
        return parse_section(Params, raw)
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None


def as_dict(section: Section) -> dict[str, Any]:
    """A section as plain data (lists, not tuples), e.g. to record in a model's metadata."""
    return section.model_dump(mode="json")


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
