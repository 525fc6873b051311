"""Downloads: a record's dossier (self-contained HTML, or PDF printed by Chromium) and the current list as CSV.

Each is logged (a ``download`` event naming the user, the format and the SHA-256 of the bytes) by
the review API before the bytes are sent; the file is offered as an attachment.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...review.downloads import Download
from ..deps import ReviewsDep, Who
from ..forms import QueueView, record_filter

router = APIRouter()


def attachment(download: Download) -> Response:
    return Response(
        download.body,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


@router.get("/records/{record_id}/dossier.html")
def dossier_html(record_id: str, who: Who, reviews: ReviewsDep) -> Response:
    return attachment(reviews.download_dossier(who.principal, record_id, "html"))


@router.get("/records/{record_id}/dossier.pdf")
def dossier_pdf(record_id: str, who: Who, reviews: ReviewsDep) -> Response:
    return attachment(reviews.download_dossier(who.principal, record_id, "pdf"))


@router.get("/records.csv")
def records_csv(request: Request, who: Who, reviews: ReviewsDep) -> Response:
    """The records list under the same filters as ``/records`` (every page of it)."""
    return attachment(reviews.download_records(who.principal, record_filter(request.query_params, who.principal)))


@router.get("/queue.csv")
def queue_csv(request: Request, who: Who, reviews: ReviewsDep) -> Response:
    """The queue under the same reason and "mine" as ``/queue`` (every page of it)."""
    shown = QueueView.read(request.query_params)
    return attachment(reviews.download_queue(who.principal, shown.reason, shown.mine))
