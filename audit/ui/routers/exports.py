"""Evidence packs from the workspace: export the records list (validator and admin), download the zip.

The records page's button posts its filters here (a form with its CSRF token) and is sent on to the
download; scripts use the JSON API. Each export is logged by the Auditor as an ``export`` event naming
the user, their role and the list's filters.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from ...pack import ExportResult
from ..deps import ApiWho, Body, Form, FormWho, ReviewsDep, Who
from ..forms import record_filter

router = APIRouter()


def _made(made: ExportResult) -> dict:
    return {
        "pack_id": made.pack_id,
        "records": made.records,
        "events": made.events,
        "tree_size": made.tree_size,
        "manifest_sha256": made.manifest_sha256,
        "export_seq": made.export_seq,
        "download": f"/api/exports/{made.pack_id}.zip",
    }


@router.post("/api/exports")
def export_api(who: ApiWho, body: Body, reviews: ReviewsDep) -> JSONResponse:
    made = reviews.export_list(who.principal, record_filter({k: v for k, v in body.items() if isinstance(v, str)}))
    return JSONResponse(_made(made), status_code=201)


@router.post("/records/export")
def export_page(fields: Form, who: FormWho, reviews: ReviewsDep) -> RedirectResponse:
    made = reviews.export_list(who.principal, record_filter(fields))
    return RedirectResponse(f"/api/exports/{made.pack_id}.zip", status_code=303)


@router.get("/api/exports/{pack_id}.zip")
def download(pack_id: str, who: Who, reviews: ReviewsDep) -> FileResponse:
    path = reviews.export_file(who.principal, pack_id)
    return FileResponse(path, media_type="application/zip", filename=f"evidence-pack-{pack_id}.zip")
