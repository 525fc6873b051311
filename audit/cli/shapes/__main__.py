"""``python -m audit.cli.shapes``: the sections of docs/json.md, in order."""

from . import SHAPES, page_section

print("\n".join(page_section(shape) for shape in SHAPES))
