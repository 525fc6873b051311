"""The shape of every ``--json`` output: one JSON object per command, its fields and their types.

The one declaration: ``tests/cli/test_json_shapes.py`` runs every command with ``--json`` and
validates what it printed against :data:`SHAPES` (as JSON Schema), and checks that
``docs/json.md`` holds each shape's section exactly as :func:`~.schema.page_section` renders it,
so the page can drift neither from the commands nor from this package. Print the sections with
``python -m audit.cli.shapes``.
"""

from __future__ import annotations

from . import evidence, log
from .schema import Shape, page_section, table, validate

SHAPES: tuple[Shape, ...] = evidence.SHAPES + log.SHAPES
BY_NAME = {shape.name: shape for shape in SHAPES}

__all__ = ["BY_NAME", "SHAPES", "Shape", "page_section", "table", "validate"]
