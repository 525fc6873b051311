"""The Auditor's evidence-pack methods: export a pack, verify one.

A part of the façade (:class:`audit.Auditor` inherits it); it needs only the Auditor's ``db_path`` and
its privacy guard (for ``--open-sealed``). The work is :mod:`audit.pack.api`'s, imported when called so
that pyarrow and the report templates load only for an export.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..privacy.guard import PrivacyGuard
    from .export import ExportOptions, ExportResult
    from .verifier import Result


class PackFacade:
    """Evidence packs of the database at ``db_path`` (:mod:`audit.pack`)."""

    db_path: Path
    privacy: PrivacyGuard

    def export(self, options: ExportOptions, **pins: Any) -> ExportResult:
        """An evidence pack once the log verifies (``pins``: ``key``, ``trust_file``); its one database write is its
        ``export`` event."""
        from . import api

        return api.export(self.db_path, options, guard=self.privacy, **pins)

    @staticmethod
    def verify_pack(pack: str | Path, **options: Any) -> Result:
        """Check an evidence pack offline with the pack verifier (:func:`audit.pack.api.verify_pack`)."""
        from . import api

        return api.verify_pack(Path(pack), **options)
