"""Evidence packs from the workspace: a validator or admin exports the records list they see as a pack.

The list is the one the records page shows for the same filters (the review index brought up to the
last event first, as every workspace read does: a derived table, never evidence), taken as record ids; the pack is made by the Auditor's own
``export`` (the log verified first, one ``export`` event naming who, in which role, the list's filters
and the manifest's SHA-256), zipped into ``<db>.exports/<pack id>.zip`` beside the database, and
downloaded from there by a user who may export. The pack proves those records and every event about
them; that the list held every record matching its filters is the review index's word (the filters are
stated in the pack's manifest as the request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..ids import UUID7, uuid7
from ..pack import ExportOptions, ExportResult, Selection
from ..store.review_index import RecordFilter
from .errors import BadRequest, NotFound
from .queue import refresh
from .roles import EXPORT_PACK, Principal, require
from .validate import writable

MAX_RECORDS = 100_000  # one pack; a larger list is narrowed first


class ReviewExports:
    def __init__(self, db_path: Path, runner: Any, trusted_key: Callable[[], Path | None]) -> None:
        self.db_path = db_path
        self.runner = runner  # the Auditor: its export (verify, select, write, sign, log)
        self.trusted_key = trusted_key

    @property
    def folder(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".exports")

    def export(self, principal: Principal, filters: RecordFilter) -> ExportResult:
        """Export the records list of ``filters`` as a zipped pack; refused (403) below the validator role."""
        require(principal, EXPORT_PACK)
        if self.runner is None:
            raise UserError("this workspace has no Auditor to export with: start it with `llm-audit ui`")
        with writable(self.db_path) as store:
            refresh(store)
            rows, total = store.review_index.records(filters, limit=MAX_RECORDS, offset=0)
        if total == 0:
            raise BadRequest("no record is in this list: change the filters before exporting")
        if total > MAX_RECORDS:
            raise BadRequest(f"the list holds {total} records, more than {MAX_RECORDS} in one pack: narrow the filters")
        self.folder.mkdir(mode=0o700, exist_ok=True)
        pack_id = uuid7()
        request = {k: v for k, v in dataclasses.asdict(filters).items() if v is not None}
        options = ExportOptions(
            output=self.folder / pack_id,
            selection=Selection.build(ids=[row.record_id for row in rows]),
            exporter=f"{principal.name} ({principal.role}, via {principal.via})",
            zipped=True,
            role=principal.role,
            pack_id=pack_id,
            request={"workspace_list": request},
        )
        key = self.trusted_key()
        return self.runner.export(options, key=[key] if key else ())

    def file(self, principal: Principal, pack_id: str) -> Path:
        """The zip of a pack exported here, for a user who may export (404 for any other name)."""
        require(principal, EXPORT_PACK)
        path = self.folder / f"{pack_id}.zip"
        if not UUID7.match(pack_id) or not path.is_file():
            raise NotFound(f"no evidence pack {pack_id} was exported from this workspace")
        return path
