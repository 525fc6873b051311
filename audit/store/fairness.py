"""The ``fairness_reports`` table: one row per protected-attribute run over many records (:mod:`audit.fairness`)."""

from __future__ import annotations

from collections.abc import Iterator

from ..fairness.result import FairnessResult
from .documents import DocumentRepository, register_documents

TABLE = "fairness_reports"
register_documents(TABLE, about_record=False)


class FairnessRepository(DocumentRepository):
    kind = "fairness"
    table = TABLE
    result_type = FairnessResult

    def mentioning(self, record_id: str) -> Iterator[FairnessResult]:
        """Runs in which ``record_id``'s decision flipped, in the log's order (for its dossier)."""
        like = f'%"record_id": "{record_id}"%'
        return (self._result(row) for row in self._chain_ordered("t.body LIKE ?", [like]))
