"""Render view models to one self-contained HTML string with the templates in ``reports/templates``.

Autoescape is on for every template and undefined names are errors, so a value from a
prompt can only ever appear as text, and a template typo fails a test instead of
silently printing nothing.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from .colors import diverging_buckets, sequential_buckets
from .dossier import Dossier
from .summary import Summary

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"


def upfirst(text: str) -> str:
    """The first letter upper-cased and the rest as written: "LTV ratio" stays "LTV ratio" (Jinja's ``capitalize``
    would print "Ltv ratio", a field name the template never had)."""
    text = str(text)
    return text[:1].upper() + text[1:]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["upfirst"] = upfirst
    return env


def _common() -> dict:
    return {"diverging": diverging_buckets(), "sequential": sequential_buckets()}


def render_dossiers(dossiers: list[Dossier], generated_at: str) -> str:
    """One HTML file holding one or more dossiers, in the order given."""
    return (
        environment().get_template("dossier.html.j2").render(dossiers=dossiers, generated_at=generated_at, **_common())
    )


def render_summary(summary: Summary) -> str:
    return (
        environment().get_template("summary.html.j2").render(s=summary, generated_at=summary.generated_at, **_common())
    )


def sha256_html(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()
