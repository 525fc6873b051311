"""HTML audit reports for regulators: one decision's dossier, or a summary over many.

Python builds plain view models (:mod:`.dossier`, :mod:`.summary`) with every number,
colour and coordinate computed; the Jinja templates in ``reports/templates/`` are the
only place that knows HTML. :func:`issue_report` reads the store, renders, writes and
logs the report's SHA-256.
"""

from .dossier import Dossier, build_dossier
from .evidence import Evidence, IntegrityStatus, Review, gather
from .issue import ReportOutput, issue_report
from .render import render_dossiers, render_summary, sha256_html
from .summary import Summary, build_summary

__all__ = [
    "Dossier",
    "Evidence",
    "IntegrityStatus",
    "ReportOutput",
    "Review",
    "Summary",
    "build_dossier",
    "build_summary",
    "gather",
    "issue_report",
    "render_dossiers",
    "render_summary",
    "sha256_html",
]
