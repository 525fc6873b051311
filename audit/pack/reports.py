"""The human-readable part of a pack: each record's dossier and the summary of the selection.

Rendered by the report package (:mod:`audit.report`) exactly as ``llm-audit report`` renders them,
with the one verification the export already ran, and never logged as reports of their own: the
pack's ``export`` event, which names the manifest that lists their SHA-256, is their record. They are
for reading; what the verifier proves is the JSON Lines beside them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..report.dossier import build_dossier
from ..report.evidence import gather
from ..report.integrity import Verification, evidence_status, log_status
from ..report.oversight import build_oversight
from ..report.render import render_dossiers, render_summary
from ..report.summary import build_summary
from ..store import AuditStore
from .collect import Collected

DOSSIER = "reports/dossiers/{id}.html"
SUMMARY = "reports/summary.html"


def dossiers(store: AuditStore, found: Collected, check: Verification, generated: str) -> Iterator[tuple[str, str]]:
    """(pack path, HTML) of each selected record's dossier, one at a time (a pack may hold thousands)."""
    for rid in found.records:
        evidence = gather(store, store.records.get(rid))
        view = build_dossier(evidence, generated, evidence_status(check, evidence))
        yield DOSSIER.format(id=rid), render_dossiers([view], generated)


def summary(store: AuditStore, found: Collected, check: Verification, generated: str) -> str:
    """The summary report of the selected records, each linking to its dossier in the pack."""
    sel = found.selection
    listed = [gather(store, store.records.get(rid), full=False) for rid in found.records]
    seqs = [e.logged.seq if e.logged else None for e in listed]
    shown = [("Selection", sel.describe()), ("Log size at the checkpoint", str(found.tree_size))]
    period_only = sel.decision is None and sel.reviewed is None and sel.ids is None
    # The oversight tally is per period (use case and dates); for a narrower selection it is left out, not misstated.
    oversight = build_oversight(store.reviews.oversight(sel.use_case, sel.since, sel.until)) if period_only else None
    view = build_summary(
        listed,
        generated,
        log_status(check, seqs),
        shown,
        link="dossiers/{id}.html",
        oversight=oversight,
        fairness=store.fairness.iter(),
    )
    return render_summary(view)
