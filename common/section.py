"""The base of every ``params.yaml`` section (common/params.py), apart so that an optional
part's own section (``torch_model/params.py``) can build on it without importing the module
that registers it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

# The largest int32: a bound for counts that reach C code as 32-bit integers.
INT32 = 2**31 - 1


class Section(BaseModel):
    """A ``params.yaml`` section: frozen, strict, no unknown keys, no infinite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
    # Where the section sits in params.yaml, for the messages of `_check`.
    KEY: ClassVar[str] = ""
    # A page with this section's own table of keys (``make schema`` fills its ``<!-- params:
    # KEY -->`` table; the README's table links there in one row), e.g. an optional part's README.
    DOCS: ClassVar[str] = ""
    # A model section whose model needs an extra (pyproject.toml): the extra and the module it
    # installs, checked by check_params before anything runs (common/extras.py).
    EXTRA: ClassVar[tuple[str, str] | None] = None

    @field_validator("*", mode="before")
    @classmethod
    def _yaml_shapes(cls, value: Any, info: Any) -> Any:
        """YAML has lists, not tuples; an empty section (``evaluate:``) reads as null."""
        if isinstance(value, list):
            return tuple(value)
        annotation = cls.model_fields[info.field_name].annotation
        if value is None and isinstance(annotation, type) and issubclass(annotation, Section):
            return {}
        return value
