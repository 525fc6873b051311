"""The JSON API: the same reads and the same typed commands as the pages, answered as JSON.

Writes need a personal token (``Authorization: Bearer``) or a session with its ``X-CSRF-Token``;
a refusal is ``{"error": ...}`` with the status it names (see :mod:`audit.ui.refusals`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import payloads
from ..deps import ApiWho, Body, PageNo, ReviewsDep, Who
from ..forms import AssignForm, FindingForm, JobForm, QueueView, ResolutionForm, SignOffForm, record_filter

router = APIRouter(prefix="/api")


@router.get("/me")
def me(who: Who) -> JSONResponse:
    return JSONResponse(payloads.me(who))


@router.get("/queue")
def queue(request: Request, who: Who, page: PageNo, reviews: ReviewsDep) -> JSONResponse:
    shown = QueueView.read(request.query_params)
    q = reviews.queue(who.principal, shown.reason, page, shown.mine)
    return JSONResponse(payloads.queue(q))


@router.get("/records")
def records(request: Request, who: Who, page: PageNo, reviews: ReviewsDep) -> JSONResponse:
    result, _ = reviews.records(who.principal, record_filter(request.query_params, who.principal), page)
    return JSONResponse(payloads.records(result))


@router.get("/records/{record_id}")
def record(request: Request, record_id: str, who: Who, reviews: ReviewsDep) -> JSONResponse:
    clear = request.query_params.get("clear") in ("1", "true")
    return JSONResponse(payloads.record(reviews.record(who.principal, record_id, clear=clear)))


@router.post("/records/{record_id}/reviews")
def review(record_id: str, who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    signed = SignOffForm.read(body).submit(reviews, who.principal, record_id)
    return JSONResponse(signed.payload(), status_code=201)


@router.post("/records/{record_id}/findings")
def finding(record_id: str, who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    found = FindingForm.read(body).submit(reviews, who.principal, record_id)
    return JSONResponse(found.payload(), status_code=201)


@router.post("/findings/{finding_id}/resolve")
def resolve(finding_id: str, who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    done = ResolutionForm.read(body).submit(reviews, who.principal, finding_id)
    return JSONResponse(done.payload(), status_code=201)


@router.post("/records/{record_id}/assign")
def assign(record_id: str, who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    assigned = AssignForm.read(body).submit(reviews, who.principal, record_id)
    return JSONResponse(assigned.payload(), status_code=201)


@router.post("/records/{record_id}/jobs")
def job(record_id: str, who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    requested = JobForm.read(body).submit(reviews, who.principal, record_id)
    return JSONResponse(requested.to_dict(), status_code=202)


@router.get("/jobs/{job_id}")
def job_state(job_id: str, who: Who, reviews: ReviewsDep) -> JSONResponse:
    return JSONResponse(reviews.job(who.principal, job_id).to_dict())
