"""The prompt as a reader sees it: plain text with the template's fields marked.

The record keeps the template, its variables and the exact text that was tokenised
(possibly wrapped in a chat template). The rendered template is located inside that
text, so the highlighting never depends on a tokenizer and never alters a character.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from ..record import GenerationRecord
from .reasons import field_words


@dataclass
class Segment:
    text: str
    field: str | None = None  # the template field this text is the value of
    label: str | None = None  # the field in words


def _template_segments(template: str, variables: dict) -> list[Segment]:
    segments: list[Segment] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if literal:
            segments.append(Segment(literal))
        if name is not None:
            value = variables.get(name, "")
            if conversion == "r":
                value = repr(value)
            elif conversion == "s" or conversion is None:
                value = format(value, spec or "")
            else:
                value = ascii(value)
            segments.append(Segment(str(value), name, field_words(name)))
    return segments


def prompt_segments(record: GenerationRecord) -> list[Segment]:
    """Segments whose texts concatenate to exactly ``record.prompt``."""
    if record.template and record.variables is not None:
        try:
            parts = _template_segments(record.template, record.variables)
        except (ValueError, KeyError, IndexError, TypeError):
            parts = []
        rendered = "".join(p.text for p in parts)
        at = record.prompt.find(rendered) if parts else -1
        if at >= 0:
            before, after = record.prompt[:at], record.prompt[at + len(rendered) :]
            out = (
                ([Segment(before)] if before else [])
                + [p for p in parts if p.text]
                + ([Segment(after)] if after else [])
            )
            return out
    return [Segment(record.prompt)]
