"""The ``alerts`` table: one row per monitoring rule that fired (:mod:`audit.monitor`), with its ``alert`` event."""

from __future__ import annotations

from collections.abc import Iterator

from ..integrity.canonical_check import read_json
from ..monitor.result import AlertResult
from .documents import DocumentRepository, register_documents
from .events import TABLE as EVENTS

TABLE = "alerts"
register_documents(TABLE, about_record=False)


class AlertRepository(DocumentRepository):
    kind = "alert"
    table = TABLE
    result_type = AlertResult

    def named_records(self, alert_ids: set[str] | None = None) -> Iterator[tuple[str, str, str, int]]:
        """(record id, severity, the alert in words, the alert's event seq) for each record an alert names, in the
        log's order: the review queue's ``alert`` reason. ``alert_ids``: only these alerts. The body is read as
        :meth:`get` reads it (the document verification compares with the log), never queried inside."""
        if not self.exists():
            return
        rows = self.db.execute(
            f"SELECT t.id, t.body, e.seq FROM {TABLE} t JOIN {EVENTS} e ON e.subject_id = t.id AND e.kind = ? "
            "ORDER BY e.seq",
            [self.kind],
        )
        for alert_id, body, seq in rows:
            if alert_ids is not None and alert_id not in alert_ids:
                continue
            alert = AlertResult.from_dict(read_json(body, f"{TABLE}.body of alert {alert_id}"))
            for record_id in alert.record_ids:
                yield record_id, alert.severity, alert.text, int(seq)
