"""The review pages: the queue, the records list, a record (with its forms), the live summary.

A record's forms post here and come back to the record page (``?done=...``); a refusal of the
review API shows the record page again with the message and the status it names.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import UserError
from ...review.errors import NotFound, Unauthenticated, status_of
from ...review.rules import RULES
from ...review.service import REVIEW_STATES
from ..deps import Actor, Form, FormWho, PageNo, ReviewsDep, ViewsDep, Who
from ..forms import AssignForm, FindingForm, JobForm, Period, QueueView, ResolutionForm, SignOffForm, record_filter
from ..views import PARTS, Views

router = APIRouter()


def query_without_page(request: Request) -> str:
    """The request's query without ``page``, for pagination links."""
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"])


@router.get("/queue")
def queue(request: Request, who: Who, page: PageNo, reviews: ReviewsDep, views: ViewsDep) -> Response:
    shown = QueueView.read(request.query_params)
    result = reviews.queue(who.principal, shown.reason, page, shown.mine)
    context = urlencode([(k, v) for k, v in (("reason", shown.reason), ("mine", "1" if shown.mine else None)) if v])
    return views.page(
        request,
        "queue.html.j2",
        who,
        q=result,
        rules=RULES,
        query=query_without_page(request),
        context=context,
        csv=urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"]),
    )


@router.get("/records")
def records(request: Request, who: Who, page: PageNo, reviews: ReviewsDep, views: ViewsDep) -> Response:
    result, choices = reviews.records(who.principal, record_filter(request.query_params, who.principal), page)
    return views.page(
        request,
        "records.html.j2",
        who,
        r=result,
        choices=choices,
        f=dict(request.query_params),
        review_states=REVIEW_STATES,
        query=query_without_page(request),
        context="",
        csv=query_without_page(request),
    )


@router.get("/records/{record_id}")
def record(request: Request, record_id: str, who: Who, reviews: ReviewsDep, views: ViewsDep) -> Response:
    return views.record(request, who, reviews.record(who.principal, record_id))


@router.get("/records/{record_id}/part/{name}")
def record_part(request: Request, record_id: str, name: str, who: Who, reviews: ReviewsDep, views: ViewsDep):
    """One part of the dossier (hashes, heatmaps, attention, settings): loaded only when asked for."""
    if name not in dict(PARTS):
        raise NotFound(f"no part {name[:40]!r} of a dossier: the parts are {', '.join(dict(PARTS))}")
    return views.part(request, who, reviews.record(who.principal, record_id), name)


@router.post("/records/{record_id}/clear")
def record_clear(request: Request, record_id: str, who: FormWho, reviews: ReviewsDep, views: ViewsDep) -> Response:
    return views.record(request, who, reviews.record(who.principal, record_id, clear=True))


def _act(request: Request, who: Actor, reviews, views: Views, record_id: str, command, done: str, target: str = ""):
    """A form on the record page: submit ``command`` (on ``target``, default the record), then back to the
    page; a refusal of the review API re-renders the page with the message and its status."""
    try:
        command.submit(reviews, who.principal, target or record_id)
    except UserError as exc:
        if isinstance(exc, Unauthenticated):
            raise
        try:
            view = reviews.record(who.principal, record_id)
        except UserError:
            raise exc from None
        return views.record(request, who, view, status_of(exc), str(exc))
    return RedirectResponse(f"/records/{record_id}?done={done}", status_code=303)


@router.post("/records/{record_id}/reviews")
def record_review(request: Request, record_id: str, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep):
    """A sign-off, then the next unsigned record of the queue the page was opened from (if any)."""
    done = _act(request, who, reviews, views, record_id, SignOffForm.read(fields), "signed-off")
    if done.status_code != 303:
        return done
    shown = QueueView.read({"reason": fields.get("queue_reason"), "mine": fields.get("queue_mine")})
    following = reviews.next_unsigned(who.principal, record_id, shown.reason, shown.mine)
    if following is None:
        return RedirectResponse(f"/records/{record_id}?done=signed-off-last", status_code=303)
    context = [("reason", shown.reason), ("mine", "1" if shown.mine else None)]
    query = urlencode([("done", "signed-off-next"), *((k, v) for k, v in context if v)])
    return RedirectResponse(f"/records/{following}?{query}", status_code=303)


@router.post("/records/{record_id}/assign")
def record_assign(request: Request, record_id: str, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep):
    return _act(request, who, reviews, views, record_id, AssignForm.read(fields), "assigned")


@router.post("/records/{record_id}/findings")
def record_finding(request: Request, record_id: str, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep):
    return _act(request, who, reviews, views, record_id, FindingForm.read(fields), "finding")


@router.post("/records/{record_id}/findings/{finding_id}/resolve")
def record_resolve(
    request: Request, record_id: str, finding_id: str, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep
):
    return _act(request, who, reviews, views, record_id, ResolutionForm.read(fields), "resolved", finding_id)


@router.post("/records/{record_id}/jobs")
def record_job(request: Request, record_id: str, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep):
    return _act(request, who, reviews, views, record_id, JobForm.read(fields), "job")


@router.get("/summary")
def summary(request: Request, who: Who, reviews: ReviewsDep, views: ViewsDep) -> Response:
    period = Period.read(request.query_params)
    s = reviews.summary(who.principal, use_case=period.use_case, since=period.since, until=period.until)
    choices = reviews.choices(who.principal)
    return views.page(request, "summary.html.j2", who, s=s, f=dict(request.query_params), choices=choices)
