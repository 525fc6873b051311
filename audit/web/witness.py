"""The witness as a small HTTP service for a second party, and the log's client for it.

``POST /add-checkpoint`` takes, as in C2SP tlog-witness, ``old <size>``, the consistency proof's
hashes one base64 a line, a blank line and the checkpoint note; it answers 200 with JSON
``{"witness": name, "note": cosigned note}``, or 409 with ``{"error": reason, "last_size": N}``
(a rollback, a fork, an unknown log or key, a proof from another size: the log retries once from
``last_size``), or 400 for a body that is not a checkpoint and proof.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import UserError
from ..integrity.note import parse_note
from ..integrity.witness import Proof, Witness, WitnessRefusal, parse_proof


def witness_router(folder: Path) -> APIRouter:
    router = APIRouter()

    @router.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> JSONResponse:
        witness = Witness(folder)
        text = (await request.body()).decode("utf-8", errors="replace")
        split = text.find("\n\n")
        try:
            if split < 0:
                raise UserError("the body is `old <size>`, the proof lines, a blank line, then the checkpoint note")
            proof, note_text = parse_proof(text[: split + 1], "the proof"), text[split + 2 :]
            origin = parse_note(note_text, "the checkpoint").origin
            cosigned = witness.cosign(note_text, proof)
        except UserError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except WitnessRefusal as exc:
            last = witness.last(origin)
            return JSONResponse({"error": str(exc), "last_size": last.tree_size if last else 0}, status_code=409)
        return JSONResponse({"witness": witness.name, "note": cosigned})

    return router


def witness_app(folder: Path) -> FastAPI:
    Witness(folder)  # refuse a folder that is not a witness before listening
    app = FastAPI(title="llm-audit witness", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(witness_router(folder))
    return app


class RemoteWitness:
    """A witness at ``url`` (``llm-audit witness serve``), as :mod:`audit.integrity.witnessing` uses it."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.name = self.url

    def cosign_with(self, note: str, proof_for: Callable[[int], Proof], hint: int = 0) -> tuple[str, int]:
        """The cosigned note and the size it was proven from (retrying once from the witness's last size)."""
        old = hint
        for _ in range(2):
            try:
                reply = httpx.post(
                    f"{self.url}/add-checkpoint", content=proof_for(old).text() + "\n" + note, timeout=30
                )
            except httpx.HTTPError as exc:
                raise UserError(
                    f"cannot reach the witness at {self.url} ({exc}): start it or pass another --witness"
                ) from None
            body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
            if reply.status_code == 200:
                self.name = str(body["witness"])
                return str(body["note"]), old
            if reply.status_code == 409 and body.get("last_size") != old and isinstance(body.get("last_size"), int):
                old = body["last_size"]
                continue
            raise WitnessRefusal(str(body.get("error", f"HTTP {reply.status_code}")))
        raise WitnessRefusal(f"the witness at {self.url} keeps changing its last size")
