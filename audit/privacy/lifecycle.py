"""The lifecycle of sealed records: retention states, erasure by crypto-shredding, legal holds.

Each decision is taken from the log (erasure tombstones, holds and releases are events) and
the key store, never from a mutable flag; each action is one transaction that logs its event
through the store and, for erasure, saves the key store inside that transaction, so a key is
only ever destroyed together with the tombstone that says why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..store import AuditStore, check_writable
from .guard import PrivacyGuard, is_sealed
from .retention import Hold, RetentionItem, active_holds, check_as_of, classify


def _check_target(subject: str | None, record_id: str | None, reason: str, why: str) -> None:
    """Erasure and legal holds name exactly one target and always say why."""
    if (subject is None) == (record_id is None):
        raise UserError("name exactly one of --subject ID or --record ID")
    if not reason or not reason.strip():
        raise UserError(f"--reason is required: {why}")


class Lifecycle:
    """Retention, erasure and holds over one database, acting as ``operator`` with ``guard``'s key store."""

    def __init__(self, db_path: Path, guard: PrivacyGuard, operator: str) -> None:
        self.db_path = db_path
        self.guard = guard
        self.operator = operator

    def holds(self, store: AuditStore | None = None) -> list[Hold]:
        """The legal holds in force now."""
        if store is None:
            with AuditStore.open(self.db_path) as opened:
                return self.holds(opened)
        return active_holds(store.privacy.hold_events())

    def retention(
        self, *, apply: bool = False, as_of: str | None = None, reason: str = "retention period ended"
    ) -> tuple[list[RetentionItem], list[str]]:
        """Every sealed record's retention state; with ``apply``, erase those due now. Returns ``(items, erased ids)``."""
        now = check_as_of(as_of, apply)
        if apply:
            check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            items = self._states(store, store.privacy.sealed(), now)
        due = [item for item in items if item.state == "due"]
        if apply and due:
            self._erase([(i.record_id, i.subject) for i in due], "retention", reason)
        return items, [i.record_id for i in due] if apply else []

    def erase(self, *, subject: str | None = None, record_id: str | None = None, reason: str) -> list[str]:
        """Crypto-shred a data subject's (or one record's) keys, one ``erasure`` tombstone per record.

        Refused, with nothing changed, while any affected record is inside its retention minimum
        or under a legal hold. Metadata, redacted text and ciphertext stay (the log is append-only
        and still verifies); the clear content is gone.
        """
        _check_target(subject, record_id, reason, "say why (e.g. 'GDPR Art. 17 request 2026-014')")
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            rows = self._rows_of(store, subject, record_id)
            items = self._states(store, rows, datetime.now(UTC))
        blocked = [i for i in items if i.state in ("within-minimum", "on-hold", "no-key")]
        if blocked:
            first = blocked[0]
            raise UserError(
                f"{len(blocked)} of {len(items)} record(s) cannot be erased ({first.record_id}: {first.state}, "
                f"{first.detail}); nothing was erased"
            )
        todo = [(i.record_id, i.subject) for i in items if i.state == "due"]
        if not todo:
            return []  # everything named is already erased: nothing to do is not an error
        return self._erase(todo, "subject" if subject is not None else "record", reason.strip())

    def hold(
        self, *, subject: str | None = None, record_id: str | None = None, reason: str, release: bool = False
    ) -> Hold:
        """Place (or with ``release``, lift) a legal hold on a data subject or one record; logged as an event."""
        _check_target(subject, record_id, reason, "name the matter or order (e.g. 'litigation 2026-CV-112')")
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            if subject is not None:
                scope, target = "subject", self.guard.keys.subject_ref(subject)
                if not store.privacy.sealed(target):
                    raise UserError(
                        f"no sealed records of data subject {subject!r} in this database: check the id and the key store"
                    )
            else:
                scope, target = "record", store.records.get(record_id).id
            held = any((h.scope, h.target) == (scope, target) for h in self.holds(store))
        if release and not held:
            raise UserError(f"there is no legal hold on that {scope} to release: run `llm-audit hold --list`")
        if not release and held:
            raise UserError(f"that {scope} is already under a legal hold: release it first to change the reason")
        made = Hold(scope, target, reason.strip(), utc_iso(), self.operator)
        payload = {"scope": scope, "target": target, "reason": made.reason, "at": made.at, "operator": self.operator}
        with AuditStore.open(self.db_path, write=True) as store:
            store.privacy.append_hold(target, payload, release=release)
        return made

    # -- the shared rule -----------------------------------------------------------------------
    def _rows_of(self, store: AuditStore, subject: str | None, record_id: str | None) -> list[dict[str, Any]]:
        if subject is not None:
            ref = self.guard.keys.subject_ref(subject)
            rows = store.privacy.sealed(ref)
            if not rows:
                raise UserError(
                    f"no sealed records of data subject {subject!r} (reference {ref}) in this database: "
                    "check the id and the key store"
                )
            return rows
        record = store.records.get(record_id)
        if not is_sealed(record):
            raise UserError(f"record {record.id} is not sealed (recorded without a policy): there is no key to destroy")
        return [r for r in store.privacy.sealed(record.tags["privacy"]["subject"]) if r["id"] == record.id]

    def _states(self, store: AuditStore, rows: list[dict[str, Any]], now: datetime) -> list[RetentionItem]:
        """Each sealed row's retention state at ``now``: the one rule retention and erase share."""
        erased, holds, keys = store.privacy.erasures(), self.holds(store), self.guard.keys
        return [
            classify(row, now, holds, erased, keys.has_record(row["privacy"]["subject"], row["id"])) for row in rows
        ]

    def _erase(self, todo: list[tuple[str, str]], scope: str, reason: str) -> list[str]:
        """Tombstones and key destruction in one step: the key store is saved inside the DB transaction."""
        keys = self.guard.keys
        erased_at = utc_iso()
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            for record_id, subject in todo:
                payload = {
                    "record_id": record_id,
                    "subject": subject,
                    "scope": scope,
                    "reason": reason,
                    "erased_at": erased_at,
                    "operator": self.operator,
                    "method": "crypto-shredding",
                }
                store.privacy.append_erasure(record_id, payload)
                keys.erase_record(subject, record_id)
            keys.save()
        return [record_id for record_id, _ in todo]
