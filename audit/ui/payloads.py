"""The JSON API's bodies: the review API's answers as plain dicts (the pages render the same objects)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..review.roles import permissions

if TYPE_CHECKING:
    from ..review.pages import RecordView
    from ..review.queue import Page, QueuePage
    from .deps import Actor


def me(who: Actor) -> dict[str, Any]:
    p = who.principal
    data = {"name": p.name, "role": p.role, "via": p.via, "permissions": permissions(p.role)}
    if who.session is not None:  # same-origin only (no CORS): what a session's script sends as X-CSRF-Token
        data["csrf"] = who.session.csrf
    return data


def row(index_row) -> dict[str, Any]:
    data = asdict(index_row)
    data["reasons"] = [{"reason": r, "detail": d} for r, d in index_row.reasons]
    data.pop("rank")
    data["in_queue"] = index_row.rank is not None
    return data


def queue(q: QueuePage) -> dict[str, Any]:
    return {
        "total": q.total,
        "page": q.page,
        "pages": q.pages,
        "counts": [{"reason": r, "title": t, "records": n} for r, t, n in q.counts],
        "records": [row(r) for r in q.rows],
    }


def records(result: Page) -> dict[str, Any]:
    return {
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "records": [row(r) for r in result.rows],
    }


def record(view: RecordView) -> dict[str, Any]:
    d = view.dossier
    return {
        "record": {
            "id": view.record_id,
            "use_case": d.cover.use_case,
            "operator": d.cover.operator,
            "started_at": d.cover.started_at,
            "record_hash": d.cover.record_hash,
            "prompt": "".join(s.text for s in d.decision.segments),
            "output_text": d.decision.output_text,
            "sealed": view.sealed,
            "clear_shown": view.clear_shown,
        },
        "decision": view.row.decision if view.row else None,
        "label_mass": view.label_mass,
        "assignee": view.assignee,
        "review_state": view.row.review_state if view.row else "unreviewed",
        "reasons": [{"reason": r, "detail": t} for r, t in (view.row.reasons if view.row else [])],
        "reviews": [r.payload() for r in view.reviews],
        "based_on": view.based_on or None,  # what a sign-off made on this state names
        "override_choices": view.override_choices,
        "findings": [
            {**f.finding.payload(), "open": f.open, "resolution": f.resolution.payload() if f.resolution else None}
            for f in view.findings
        ],
        "integrity": {"state": view.integrity.state, "message": view.integrity.message},
        "jobs": [j.to_dict() for j in view.jobs],
    }
