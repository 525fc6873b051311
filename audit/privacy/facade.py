"""The Auditor's privacy lifecycle methods: retention, erasure and legal holds of sealed records.

A part of the façade (:class:`audit.Auditor` inherits it), kept here so ``auditor.py`` stays a
short index; it needs the Auditor's ``db_path``, ``privacy`` guard and ``operator``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from .guard import PrivacyGuard
from .lifecycle import Lifecycle
from .retention import Hold


class PrivacyFacade:
    """Retention, erasure and legal holds (:class:`audit.privacy.lifecycle.Lifecycle`) over the Auditor's database."""

    db_path: Path
    privacy: PrivacyGuard
    operator: str

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """Retention, erasure and legal holds of sealed records (see :mod:`audit.privacy.lifecycle`)."""
        return Lifecycle(self.db_path, self.privacy, self.operator)

    def retention(self, *, apply: bool = False, as_of: str | None = None, reason: str = "retention period ended"):
        """Every sealed record's retention state (:meth:`audit.privacy.lifecycle.Lifecycle.retention`); ``apply``: erase those due."""
        return self.lifecycle.retention(apply=apply, as_of=as_of, reason=reason)

    def erase(self, *, subject: str | None = None, record_id: str | None = None, reason: str) -> list[str]:
        """Crypto-shred a data subject's (or one record's) keys; an ``erasure`` tombstone per record."""
        return self.lifecycle.erase(subject=subject, record_id=record_id, reason=reason)

    def holds(self) -> list[Hold]:
        """The legal holds in force now."""
        return self.lifecycle.holds()

    def hold(self, *, subject: str | None = None, record_id: str | None = None, reason: str, release: bool = False):
        """Place (or with ``release``, lift) a legal hold on a data subject or one record."""
        return self.lifecycle.hold(subject=subject, record_id=record_id, reason=reason, release=release)
