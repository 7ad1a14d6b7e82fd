"""``python -m common.params_schema``: write params.schema.json, the JSON Schema of params.yaml.

Generated from the dataclasses of common/params.py (the one place defaults live): their types,
``Literal`` choices as enums, ``INT_BOUNDS`` as minimum and maximum, each default, and no keys
but theirs (``additionalProperties: false``). The descriptions are params.yaml's own trailing
comments, the text a user reads next to each key. params.yaml's first line points editors at
the file (``# yaml-language-server: $schema=params.schema.json``), so they flag a typo or a
wrong type as it is typed. The stages do not read it: ``load_params`` checks more (ranges
between keys, finite numbers), in the same one-line errors as before. ``make schema``
regenerates it; tests/test_params_schema.py fails when the committed file is stale.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from common.params import INT_BOUNDS, PARAMS_FILE, Params, as_dict

SCHEMA_FILE = "params.schema.json"
DRAFT = "http://json-schema.org/draft-07/schema#"  # the draft editors' YAML plugins support best
# `  key: value   # description`: a key, its value, and the comment after it.
_COMMENTED_KEY = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<value>.*?)(?:\s+#\s*(?P<comment>.*))?$"
)
_SIMPLE_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def yaml_comments(text: str) -> dict[str, str]:
    """The trailing comment of each key of a block-style YAML file, by dotted key."""
    comments: dict[str, str] = {}
    path: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    for line in text.splitlines():
        match = _COMMENTED_KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        if match["comment"]:
            comments[".".join(key for _, key in path)] = match["comment"].strip()
    return comments


def type_schema(tp: Any, key: str) -> dict[str, Any]:
    """The schema of one annotation, as ``common.params._coerce`` reads it."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return section_schema(tp, key)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (Union, types.UnionType):
        options = [type_schema(option, key) for option in get_args(tp)]
        if all(set(option) == {"type"} for option in options):
            return {"type": [option["type"] for option in options]}
        return {"anyOf": options}
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": type_schema(args[0], key)}
        items = [type_schema(arg, key) for arg in args]
        return {"type": "array", "items": items, "additionalItems": False, "minItems": len(items)}
    if tp in _SIMPLE_TYPES:
        schema: dict[str, Any] = {"type": _SIMPLE_TYPES[tp]}
        if tp is int and key in INT_BOUNDS:
            schema["minimum"], schema["maximum"] = INT_BOUNDS[key]
        return schema
    raise TypeError(f"{key}: no JSON Schema for the annotation {tp!r}")


def section_schema(cls: type, key: str) -> dict[str, Any]:
    """A section (dataclass): its keys, none required (a missing key takes its default)."""
    hints = get_type_hints(cls)
    properties = {}
    for field in dataclasses.fields(cls):
        name = f"{key}.{field.name}" if key else field.name
        properties[field.name] = type_schema(hints[field.name], name)
    # A section may be left empty (`evaluate:`), as load_params allows: null reads as {}.
    kind = "object" if not key else ["object", "null"]
    return {"type": kind, "properties": properties, "additionalProperties": False}


def add_details(schema: dict[str, Any], defaults: Any, comments: dict[str, str], key: str = "") -> None:
    """Each key's default and, where params.yaml comments it, its description."""
    if key in comments:
        schema["description"] = comments[key]
    if not isinstance(defaults, dict):
        schema["default"] = defaults
        return
    for name, child in schema.get("properties", {}).items():
        add_details(child, defaults[name], comments, f"{key}.{name}" if key else name)


def params_schema(params_text: str) -> dict[str, Any]:
    """The schema of params.yaml, with descriptions from ``params_text`` (its comments)."""
    schema = {
        "$schema": DRAFT,
        "title": "params.yaml",
        "description": "Every knob of the pipeline, one section per stage (generated from "
        "common/params.py by `make schema`; the README's Parameters table explains each).",
        **section_schema(Params, ""),
    }
    add_details(schema, as_dict(Params()), yaml_comments(params_text))
    return schema


def schema_text(params_text: str) -> str:
    return json.dumps(params_schema(params_text), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path()
    (root / SCHEMA_FILE).write_text(schema_text((root / PARAMS_FILE).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
