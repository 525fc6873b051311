"""The audit store: the only place in llm-audit that knows SQL.

``AuditStore`` bundles one repository per component over a single SQLite file. Each
evidence repository writes its row and that row's hash-chained event in one transaction
(:mod:`.evidence`); ``store.evidence`` maps event kinds to them, for verification. Opening
for reading can never write; opening for writing applies pending migrations first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from .access import AccessLog
from .alerts import AlertRepository
from .api_keys import ApiKeyRepository
from .assignments import AssignmentRepository
from .attention import AttentionRepository
from .blobs import BlobRepository
from .checkpoints import CheckpointRepository
from .counterfactuals import CounterfactualRepository
from .database import atomic, check_writable, default_db_path, open_for_read, open_for_write
from .events import EventLog
from .evidence import EvidenceRepository
from .explanations import ExplanationRepository
from .exports import ExportLog
from .fairness import FairnessRepository
from .findings import FindingRepository
from .monitoring import MonitoringQueries
from .privacy import PrivacyRepository
from .provenance import ProvenanceRepository
from .records import RecordRepository
from .replays import ReplayRepository
from .reports import ReportRepository
from .review_index import ReviewIndexRepository
from .reviews import ReviewRepository
from .schema import applied_versions
from .users import UserRepository


class AuditStore:
    def __init__(self, db: sqlite_utils.Database, path: Path, writable: bool) -> None:
        self.db = db
        self.path = path
        self.writable = writable
        self.events = EventLog(db)
        self.blobs = BlobRepository(db)
        self.checkpoints = CheckpointRepository(db, self.events)
        self.events.after_append = self.checkpoints.sign_if_due  # the automatic checkpoint rule
        self.events.signer = self.checkpoints.event_key  # every event signed by the log's key when written
        self.records = RecordRepository(db, self.events)
        self.explanations = ExplanationRepository(db, self.events, self.blobs)
        self.attention = AttentionRepository(db, self.events, self.blobs)
        self.replays = ReplayRepository(db, self.events)
        self.counterfactuals = CounterfactualRepository(db, self.events)
        self.fairness = FairnessRepository(db, self.events)
        self.alerts = AlertRepository(db, self.events)  # monitoring rules that fired (audit/monitor/)
        self.monitoring = MonitoringQueries(db)
        self.reports = ReportRepository(db, self.events)
        self.provenance = ProvenanceRepository(db, self.events)
        self.privacy = PrivacyRepository(db, self.events)
        self.api_keys = ApiKeyRepository(db, self.events)
        self.reviews = ReviewRepository(db, self.events)  # the review workspace (audit/review/)
        self.findings = FindingRepository(db, self.events)
        self.assignments = AssignmentRepository(db, self.events)
        self.users = UserRepository(db, self.events)
        self.access = AccessLog(db, self.events)
        self.exports = ExportLog(self.events)  # evidence packs handed out (audit/pack/)
        self.review_index = ReviewIndexRepository(db)

    @property
    def evidence(self) -> dict[str, EvidenceRepository]:
        """Event kind -> the repository whose table holds that event's row: what verification checks."""
        repositories = (self.records, self.explanations, self.attention, self.replays, self.reports, self.provenance)
        repositories += (self.checkpoints, self.api_keys, self.reviews, self.findings, self.users)
        repositories += (self.counterfactuals, self.fairness, self.alerts, self.assignments)
        return {repository.kind: repository for repository in repositories}

    @classmethod
    def open(cls, path: Path | str | None = None, *, write: bool = False) -> AuditStore:
        path = Path(path) if path is not None else default_db_path()
        if write:
            now = datetime.now(UTC).isoformat()
            return cls(open_for_write(path, now), path, True)
        return cls(open_for_read(path), path, False)

    def transaction(self):
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, all or nothing (joins an open transaction)."""
        return atomic(self.db.conn)

    def schema_versions(self) -> dict[str, int]:
        """Component -> the latest migration applied to this database (a newer one than we know: written by a newer llm-audit)."""
        return applied_versions(self.db.conn)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["AuditStore", "EvidenceRepository", "check_writable", "default_db_path"]
