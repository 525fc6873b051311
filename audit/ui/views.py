"""The workspace's pages: the templates of ``reports/templates/ui/`` rendered with what every page shows.

Every page gets the user and their permissions, the session's CSRF token for its forms, the
colour buckets the report templates use, and the one-line confirmation of the action just done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..report.colors import diverging_buckets, sequential_buckets
from ..report.render import environment
from ..review.roles import permissions
from ..review.service import AREAS, SEVERITIES

if TYPE_CHECKING:
    from .deps import Actor

DONE = {
    "signed-off": "Your sign-off is recorded in the audit log (section 9).",
    "finding": "Your finding is recorded in the audit log.",
    "resolved": "The resolution is recorded in the audit log.",
    "job": "The job is queued: this page refreshes until it is done.",
    "user": "The user change is recorded in the audit log.",
}


class Views:
    """The template environment and the two style sheets, built once per application."""

    def __init__(self) -> None:
        self.env = environment()
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
        """A record page (``view``: a :class:`~audit.review.pages.RecordView`), with the refusal of a form if any."""
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
            refresh=any(j.pending for j in view.jobs),
        )
