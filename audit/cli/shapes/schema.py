"""The vocabulary of the ``--json`` shapes (types as JSON Schema) and how docs/json.md renders them.

Top-level fields are closed (a new field must be declared and documented); a nested ``object``
is open; :func:`mapping` is an object whose keys are data (record ids, labels, field names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def mapping(values: Schema, keys: str) -> Schema:
    """An object whose keys are data (record ids, labels, field names), each holding ``values``."""
    return {"type": "object", "additionalProperties": values, "x-keys": keys}


def fields(**members: Schema) -> Schema:
    """A closed object: exactly these members, all present."""
    return {"type": "object", "properties": members, "required": list(members), "additionalProperties": False}


@dataclass(frozen=True)
class Shape:
    name: str
    commands: tuple[str, ...]
    summary: str
    schema: Schema


def type_text(schema: Schema) -> str:
    """The type in words, as the tables of docs/json.md write it."""
    kind = schema["type"]
    if isinstance(kind, list):
        return type_text({**schema, "type": kind[0]}) + " or null"
    if kind == "array":
        inner = type_text(schema["items"])
        return f"array of ({inner})" if " " in inner else f"array of {inner}s"
    if kind == "object" and "x-keys" in schema:
        return f"object: {schema['x-keys']} → {type_text(schema['additionalProperties'])}"
    return kind


def rows(schema: Schema, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, type) for every declared member, nested ones as ``parent.child`` / ``parent[].child``."""
    found = []
    for name, member in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        found.append((path, type_text(member)))
        found += rows(member, f"{path}.")
        items, marks = member.get("items"), "[]"
        while items is not None and items.get("type") == "array":
            items, marks = items.get("items"), marks + "[]"
        if items is not None and "properties" in items:
            found += rows(items, f"{path}{marks}.")
    return found


def table(shape: Shape) -> str:
    """The shape's Markdown table, as docs/json.md holds it."""
    lines = ["| field | type |", "|---|---|"]
    lines += [f"| `{path}` | {kind} |" for path, kind in rows(shape.schema)]
    return "\n".join(lines)


def page_section(shape: Shape) -> str:
    """The section of docs/json.md for ``shape``: heading, commands, summary, table."""
    commands = ", ".join(f"`llm-audit {c} --json`" for c in shape.commands)
    return f"## {shape.name}\n\n{commands}: {shape.summary}\n\n{table(shape)}\n"


def validate(value: Any, shape: Shape) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``value`` has ``shape`` (the tests' check)."""
    import jsonschema

    jsonschema.validate(value, shape.schema)
