"""Everything a dossier is built from: the latest stored result of each component, read from the store.

Every component is part of the store, so nothing is probed for; what a record does not have
yet (no explanation, no replay, no sign-off) is ``None`` or empty, and the dossier then says
plainly what is missing and how to produce it. "Latest" follows the hash chain's order. The
record's hash is the ``payload_sha256`` of its logged generation event, read from the log, so
the dossier cites exactly what the chain commits to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..attention.result import AttentionResult
from ..attribution.result import AttributionResult
from ..record import GenerationRecord
from ..replay.result import ReplayResult
from ..store import AuditStore


@dataclass
class Review:
    """A human sign-off as logged (the ``review`` event's payload, read leniently)."""

    reviewer: str
    role: str
    action: str
    rationale: str
    at: str


@dataclass(frozen=True)
class LoggedRecord:
    """Where the generation event of a record sits in the log, and the hash it commits to."""

    seq: int
    payload_sha256: str


@dataclass
class Evidence:
    record: GenerationRecord
    field_attribution: AttributionResult | None = None  # field (or segment) granularity, of the text
    token_attribution: AttributionResult | None = None  # token granularity, of the text: the heatmaps
    attention: AttentionResult | None = None
    replay: ReplayResult | None = None
    reviews: list[Review] = field(default_factory=list)
    privacy: str | None = None  # redaction / erasure status in words, for sealed records
    logged: LoggedRecord | None = None  # None: no generation event for this record in the log
    decision_attribution: AttributionResult | None = None  # field (or segment) explanation of the decision
    decision_token_attribution: AttributionResult | None = None  # token explanation of the decision


@dataclass
class IntegrityStatus:
    state: str  # "verified" | "failed" | "unavailable"
    message: str


def _reviews(store: AuditStore, record_id: str) -> list[Review]:
    out = []
    for event in store.events.iter(subject_id=record_id, kind="review"):
        p = event.payload
        out.append(
            Review(
                reviewer=str(p.get("reviewer", p.get("name", ""))),
                role=str(p.get("role", "")),
                action=str(p.get("action", p.get("decision", ""))),
                rationale=str(p.get("rationale", p.get("comment", ""))),
                at=str(p.get("at", p.get("created_at", event.created_at))),
            )
        )
    return out


def logged_record(store: AuditStore, record_id: str) -> LoggedRecord | None:
    event = store.events.logged("generation", record_id)
    return LoggedRecord(event.seq, event.payload_sha256) if event is not None else None


def gather(store: AuditStore, record: GenerationRecord, *, full: bool = True) -> Evidence:
    """Collect the latest stored result of each component for ``record`` (None where there is none yet).

    ``full=False`` skips what a summary never shows (token attributions, attention maps,
    reviews), so summarising a thousand records reads only small rows.
    """
    explanations = store.explanations
    field_attr = explanations.latest(record.id, granularity="field", target="output") or explanations.latest(
        record.id, granularity="segment", target="output"
    )
    return Evidence(
        record=record,
        field_attribution=field_attr,
        token_attribution=explanations.latest(record.id, granularity="token", target="output") if full else None,
        attention=store.attention.latest(record.id) if full else None,
        replay=store.replays.latest(record.id),
        reviews=_reviews(store, record.id) if full else [],
        privacy=privacy_note(store, record),
        logged=logged_record(store, record.id),
        decision_attribution=_decision_explanation(store, record, "field")
        or _decision_explanation(store, record, "segment"),
        decision_token_attribution=_decision_explanation(store, record, "token") if full else None,
    )


def _decision_explanation(store: AuditStore, record: GenerationRecord, granularity: str) -> AttributionResult | None:
    """The latest explanation of the record's decision; for an adverse one, preferably the one that contrasts it
    with the favourable label (the only contrast whose figures are adverse-action reasons)."""
    decision = record.decision
    if decision is None:
        return None
    latest = store.explanations.latest
    preferred = latest(record.id, granularity=granularity, target="decision", contrast=decision.favourable)
    if decision.adverse and preferred is not None:
        return preferred
    return latest(record.id, granularity=granularity, target="decision")


def privacy_note(store: AuditStore, record: GenerationRecord) -> str | None:
    """What the privacy component did to this record, as the report states it (None: not sealed)."""
    info = (record.tags or {}).get("privacy")
    if not isinstance(info, dict) or not info.get("sealed"):
        return None
    erased = store.privacy.erasure(record.id)
    if erased is not None:
        return (
            f"Erased on {erased['erased_at'][:10]} under {erased['reason']!r}: the record's keys were destroyed (crypto-shredding), "
            "so its clear content can no longer be read; the metadata, the redacted text below and the audit log remain."
        )
    kinds = ", ".join(f"{kind} ({n})" for kind, n in sorted(info.get("detected", {}).items())) or "none detected"
    return (
        f"Personal data was redacted before storage and is shown as placeholders; found: {kinds}. The exact content is sealed "
        f"(AES-256-GCM) under the data subject's key. Retention class {info.get('retention_class')}: kept at least until "
        f"{str(info.get('retain_until', ''))[:10]}."
    )


def integrity_status(verify) -> IntegrityStatus:
    """Run ``verify`` (the Auditor's) and say what it found in one sentence; never let it stop a report."""
    if verify is None:
        return IntegrityStatus("unavailable", "The audit log was not verified for this report.")
    try:
        result = verify()
    except Exception as exc:  # noqa: BLE001 - a report must still say what happened
        return IntegrityStatus("failed", f"Verification could not run: {type(exc).__name__}: {exc}")
    if result.ok:
        return IntegrityStatus(
            "verified", "The audit log verified intact when this report was generated (llm-audit verify)."
        )
    return IntegrityStatus("failed", f"The audit log FAILED verification: {result.summary()}")


def mean_logprob(record: GenerationRecord) -> float:
    lps = [x for x in record.token_logprobs if math.isfinite(x)]
    return sum(lps) / len(lps) if lps else float("nan")
