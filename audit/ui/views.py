"""The workspace's pages: the templates of ``reports/templates/ui/`` rendered with what every page shows.

Every page gets the user and their permissions, the session's CSRF token for its forms, the
colour buckets the report templates use, and the one-line confirmation of the action just done.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..decision.mass import share_text
from ..report.colors import diverging_buckets, sequential_buckets
from ..report.render import environment
from ..review.roles import permissions
from ..review.service import AREAS, SEVERITIES

if TYPE_CHECKING:
    from .deps import Actor

DONE = {
    "signed-off": "Your sign-off is recorded in the audit log.",
    "signed-off-next": "Your sign-off is recorded in the audit log. This is the next unsigned record in the queue.",
    "signed-off-last": "Your sign-off is recorded in the audit log. No other unsigned record in this queue is yours to sign.",
    "assigned": "The assignment is recorded in the audit log.",
    "finding": "Your finding is recorded in the audit log.",
    "resolved": "The resolution is recorded in the audit log.",
    "job": "The job is queued (or was already): this page refreshes until it is done.",
    "user": "The user change is recorded in the audit log.",
}


# Command lines the report's texts give a reader of a static dossier; the workspace offers buttons instead
# (for roles that may run jobs) or says plainly what is missing. Most specific first.
_COMMANDS = (
    (re.compile(r"\s*\bRun: llm-audit\b.*$", re.S), ""),
    (re.compile(r":\s*run `llm-audit [^`]*`"), ""),
    (re.compile(r",? or `llm-audit [^`]*`,?"), ""),
    (re.compile(r"\s*\bsee `llm-audit [^`]*` or\b"), " see"),
    (re.compile(r"\s+with `llm-audit [^`]*`"), ""),
    (re.compile(r"\s*\(?`?llm-audit [a-z-]+[^`)]*`?\)?"), ""),
)


def web_words(value: Any) -> Any:
    """Every text a workspace page prints, without the command lines meant for a terminal."""
    if type(value) is not str or "llm-audit " not in value:  # Markup is already finished text
        return value
    for pattern, replacement in _COMMANDS:
        value = pattern.sub(replacement, value)
    return value


# The dossier's parts, each a page of its own under /records/{id}/part/{name}: the record page shows their
# gist first and links here for the rest (hashes, the prompt as tokenised, heatmaps, attention, settings).
PARTS = (
    ("cover", "Cover: record hash, model, times"),
    ("decision", "Decision: label probabilities, prompt and output in full"),
    ("why", "Why: every attribution, the input coloured by it"),
    ("counterfactual", "What would have changed the decision: every alternative"),
    ("attention", "Attention: rollout, per-layer thumbnails, head importance"),
    ("method", "Method and limits"),
    ("reproducibility", "Reproducibility: replay, model identity, generation settings"),
    ("regulatory", "Regulatory map"),
    ("signoff", "Every sign-off in the audit log"),
)


def age(started_at: str, now: datetime | None = None) -> str:
    """How long ago a store-format UTC time was, in the largest whole unit (a worklist's "age" column)."""
    try:
        then = datetime.strptime(started_at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return "?"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class Views:
    """The template environment and the two style sheets, built once per application."""

    def __init__(self) -> None:
        self.env = environment().overlay(finalize=web_words)
        self.env.filters = {
            **self.env.filters,
            "age": age,
            "share": share_text,
        }  # the overlay would share the report's dict
        self.buckets = {"diverging": diverging_buckets(), "sequential": sequential_buckets()}
        self.css = {
            "report.css": self.env.get_template("styles.css.j2").render(**self.buckets),
            "ui.css": self.env.get_template("ui/ui.css.j2").render(),
        }

    def page(
        self, request: Request, template: str, who: Actor | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        principal = who.principal if who else None
        html = self.env.get_template(f"ui/{template}").render(
            user=principal,
            csrf=who.csrf if who else "",
            can=permissions(principal.role) if principal else {},
            path=request.url.path,
            done=DONE.get(request.query_params.get("done", "")),
            refresh=context.pop("refresh", False),
            **self.buckets,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def record(self, request: Request, who: Actor, view, status: int = 200, error: str | None = None) -> HTMLResponse:
        """A record page (``view``: a :class:`~audit.review.pages.RecordView`), with the refusal of a form if any.
        The queue it was opened from (``?reason=...&mine=1``) rides along, for "next record" after a sign-off."""
        params = request.query_params
        return self.page(
            request,
            "record.html.j2",
            who,
            status,
            v=view,
            d=view.dossier,
            error=error,
            severities=SEVERITIES,
            areas=AREAS,
            parts=PARTS,
            queue_reason=(params.get("reason") or "")[:40],
            queue_mine=params.get("mine") == "1",
            refresh=any(j.pending for j in view.jobs),
        )

    def part(self, request: Request, who: Actor, view, name: str) -> HTMLResponse:
        """One part of a record's dossier on its own page (``name``: one of :data:`PARTS`)."""
        title = dict(PARTS)[name]
        return self.page(request, "part.html.j2", who, v=view, d=view.dossier, part=name, part_title=title, live=True)
