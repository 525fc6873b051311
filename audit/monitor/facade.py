"""The Auditor's monitoring methods: decisions over time with alert rules, and OpenTelemetry export.

A part of the façade (:class:`audit.Auditor` inherits it), kept here so ``auditor.py`` stays a short
index; it needs the Auditor's ``db_path`` and its privacy ``policy`` (which keeps content out of
telemetry).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store import AuditStore, check_writable

if TYPE_CHECKING:
    from ..privacy.policy import Policy
    from ..telemetry.batch import ExportOutcome
    from .run import MonitorReport


class MonitorFacade:
    db_path: Path
    policy: Policy | None

    def monitor(self, **options: Any) -> MonitorReport:
        """Decisions over windows against a reference (``options``: :class:`~audit.monitor.run.MonitorRequest`'s
        fields); the alert rules that fire are stored as ``alert`` evidence, all or none."""
        from ..integrity import keys
        from .run import MonitorRequest, monitor, store_alerts

        with AuditStore.open(self.db_path) as store:
            report = monitor(store, MonitorRequest(**options))
        if report.alerts:
            check_writable(self.db_path)
            keys.signing_key(self.db_path)  # a key that cannot sign is refused before anything is stored
            with AuditStore.open(self.db_path, write=True) as store:
                store_alerts(store, report.alerts)
            keys.sign_tail(self.db_path)  # like a batch command: the alerts end covered by a signed checkpoint
        return report

    def otel_export(self, endpoint: str, **options: Any) -> ExportOutcome:
        """Send the records of a period as OpenTelemetry spans (``options``: since, until, use_case, content,
        timeout); content never leaves under a privacy policy."""
        from ..telemetry.batch import export_period

        with AuditStore.open(self.db_path):  # the database must exist: one line otherwise
            pass
        content = bool(options.pop("content", False)) and self.policy is None
        return export_period(self.db_path, endpoint, content=content, **options)
