"""Workspace actions that have no table: logins, failed logins, logouts, unlocks, views of sealed content, jobs,
downloads.

They are events in the hash chain and nothing else: the log is where an auditor looks for who
did what, and none of these facts needs a row a report reads back. Login events have the subject
``user:NAME``; a failed login for a name that is no account is logged under ``user:?`` without
the name (it may be a password typed in the wrong box). The login back-off reads these events back;
an ``unlock`` event (an admin's unlock, a new password, an enable) starts its count afresh.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .events import EventLog

LOGIN, LOGIN_FAILED, LOGOUT, UNLOCK = "login", "login-failed", "logout", "unlock"
CLEAR_VIEW = "clear-view"
JOB_REQUESTED, JOB_FINISHED = "job-requested", "job-finished"
DOWNLOAD = "download"
UNKNOWN_USER = "user:?"


def user_subject(name: str | None) -> str:
    return f"user:{name}" if name else UNKNOWN_USER


class AccessLog:
    def __init__(self, db: sqlite_utils.Database, events: EventLog) -> None:
        self.db = db
        self.events = events

    def login(self, name: str, payload: dict[str, Any]) -> int:
        return self.events.append(LOGIN, user_subject(name), payload)

    def login_failed(self, name: str | None, payload: dict[str, Any]) -> int:
        """Log a failed login; ``name`` None when no account has the name given."""
        return self.events.append(LOGIN_FAILED, user_subject(name), payload)

    def logout(self, name: str, payload: dict[str, Any]) -> int:
        return self.events.append(LOGOUT, user_subject(name), payload)

    def unlock(self, name: str, payload: dict[str, Any]) -> int:
        """Log that ``name``'s failed logins no longer count (an admin's unlock, a new password, an enable)."""
        return self.events.append(UNLOCK, user_subject(name), payload)

    def clear_view(self, record_id: str, payload: dict[str, Any]) -> int:
        """Log that a user was shown ``record_id``'s sealed content in clear."""
        return self.events.append(CLEAR_VIEW, record_id, payload)

    def job_requested(self, job_id: str, payload: dict[str, Any]) -> int:
        return self.events.append(JOB_REQUESTED, job_id, payload)

    def job_finished(self, job_id: str, payload: dict[str, Any]) -> int:
        return self.events.append(JOB_FINISHED, job_id, payload)

    def unfinished_jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """(job id, request payload) of every job requested and never finished, in the log's order."""
        if not self.events.exists():
            return []
        import json

        rows = self.db.execute(
            "SELECT r.subject_id, r.payload FROM events r WHERE r.kind = ? AND NOT EXISTS "
            "(SELECT 1 FROM events f WHERE f.subject_id = r.subject_id AND f.kind = ?) ORDER BY r.seq",
            [JOB_REQUESTED, JOB_FINISHED],
        ).fetchall()
        return [(subject, json.loads(payload)) for subject, payload in rows]

    def download(self, subject: str, payload: dict[str, Any]) -> int:
        """Log that a user downloaded ``subject`` (a record's dossier, or a list of records as CSV)."""
        return self.events.append(DOWNLOAD, subject, payload)

    def downloads(self, subject: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events.iter(subject_id=subject, kind=DOWNLOAD)]

    def recent_logins(self, name: str, limit: int) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, created_at, payload) of ``name``'s latest logins, failed logins and unlocks, newest first."""
        if not self.events.exists():
            return []
        import json

        rows = self.db.execute(
            "SELECT kind, created_at, payload FROM events WHERE subject_id = ? AND kind IN (?, ?, ?) "
            f"ORDER BY seq DESC LIMIT {int(limit)}",
            [user_subject(name), LOGIN, LOGIN_FAILED, UNLOCK],
        ).fetchall()
        return [(kind, at, json.loads(payload)) for kind, at, payload in rows]

    def clear_views(self, record_id: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events.iter(subject_id=record_id, kind=CLEAR_VIEW)]
