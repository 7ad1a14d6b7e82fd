"""``python -m common.params_schema`` (``make schema``): params.schema.json, and the tables of
params in README.md and in each section's own page (``Section.DOCS``), from the models of
common/params.py.

The schema is pydantic's ``model_json_schema()``, with two changes: a section may be left
empty (``evaluate:``, null), as ``load_params`` allows, and the draft is named.
params.yaml's first line points editors at it (``# yaml-language-server:
$schema=params.schema.json``), so they flag a typo or a wrong type as it is typed. The stages
do not read it: ``load_params`` checks more (rules between keys), in one-line errors.

The tables are written between two markers, ``<!-- params: SECTION -->`` and
``<!-- /params -->`` (``<!-- params -->`` for all): each key, its default and its field's description. A nested section
whose page has its own table (its class's ``DOCS``, e.g. ``train.torch``: torch_model/README.md)
is one row linking there.
tests/test_params_schema.py fails when the committed files are stale.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from common.params import Params, Section

SCHEMA_FILE = "params.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
README = "README.md"
_TABLE = re.compile(r"(<!-- params(?:: (?P<section>[\w.]+))? -->\n)(?P<table>.*?)(<!-- /params -->)", re.S)
_LINK = re.compile(r"\]\((?P<target>[^)#:]+)(?P<anchor>#[^)]*)?\)")


def params_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml."""
    schema = Params.model_json_schema()
    for section in [schema, *schema["$defs"].values()]:
        for prop in section.get("properties", {}).values():
            if "$ref" in prop:  # a section: its keys, or null for all defaults
                prop["anyOf"] = [{"$ref": prop.pop("$ref")}, {"type": "null"}]
    return {
        "$schema": DRAFT,
        **schema,
        "description": "Every knob of the pipeline, one section per stage (generated from "
        "common/params.py by `make schema`; the README's Parameters table explains each).",
    }


def schema_text() -> str:
    return json.dumps(params_schema(), indent=2, ensure_ascii=False) + "\n"


def yaml_value(value: Any) -> str:
    """A default as params.yaml would hold it, in YAML's flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    if isinstance(value, str) and not value:
        return '""'
    return str(value)


def table_rows(section: type[Section], key: str, linked: dict[str, str], prefix: str) -> list[str]:
    """One markdown row per key of ``section`` (at ``key`` in params.yaml), nested sections
    included; keys are written without ``prefix``."""
    rows = []
    for name, field in section.model_fields.items():
        full = f"{key}.{name}" if key else name
        shown = full.removeprefix(prefix)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            if full in linked:
                page = linked[full].split("#")[0]
                rows.append(f"| `{shown}.*` | see [{page}]({linked[full]}) | {field.description} |")
            else:
                rows.extend(table_rows(annotation, full, linked, prefix))
            continue
        default = field.get_default(call_default_factory=True)
        rows.append(f"| `{shown}` | `{yaml_value(default)}` | {field.description} |")
    return rows


def params_table(section_key: str, linked: dict[str, str]) -> str:
    section: type[Section] = Params
    for part in filter(None, section_key.split(".")):
        section = section.model_fields[part].annotation  # type: ignore[assignment]
    prefix = f"{section_key}." if section_key else ""
    lines = [
        "| key | default | meaning |",
        "|---|---|---|",
        *table_rows(section, section_key, linked, prefix),
    ]
    return "\n".join(lines) + "\n"


def relink(text: str, page: str) -> str:
    """The descriptions' links are from the repository root: make them relative to ``page``."""

    def link(match: re.Match[str]) -> str:
        target = posixpath.relpath(match["target"], posixpath.dirname(page) or ".")
        anchor = match["anchor"] or ""
        return f"]({anchor})" if target == posixpath.basename(page) and anchor else f"]({target}{anchor})"

    return _LINK.sub(link, text)


def with_tables(text: str, page: str, linked: dict[str, str]) -> str:
    """``text`` (of ``page``) with every marked table regenerated."""
    return _TABLE.sub(lambda m: m[1] + relink(params_table(m["section"] or "", linked), page) + m[4], text)


def own_pages(section: type[Section] = Params, key: str = "") -> dict[str, str]:
    """Each nested section with a page of its own (``DOCS``), by its key: ``{"train.torch":
    "torch_model/README.md#every-traintorch-key"}``."""
    pages = {}
    for name, field in section.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            full = f"{key}.{name}" if key else name
            if annotation.DOCS:
                pages[full] = annotation.DOCS
            pages.update(own_pages(annotation, full))
    return pages


def tables() -> dict[str, dict[str, str]]:
    """The pages with generated tables, and on each the sections whose keys another page lists
    (one row linking there instead): the README links to each section's own page."""
    linked = own_pages()
    return {README: linked, **{target.split("#")[0]: {} for target in linked.values()}}


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path()
    (root / SCHEMA_FILE).write_text(schema_text())
    for page, linked in tables().items():
        path = root / page
        path.write_text(with_tables(path.read_text(), page, linked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
