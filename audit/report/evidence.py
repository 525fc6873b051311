"""Everything a dossier is built from, fetched defensively from whichever components exist.

Attribution, attention, replay, integrity and reviews are separate components; a report
must still be produced when some are absent (not installed, or not yet run for this
record) and must then say so plainly instead of failing or inventing content.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from ..attention.result import AttentionResult
from ..attribution.result import AttributionResult
from ..hashing import canonical_json
from ..record import GenerationRecord
from ..replay_result import ReplayResult
from ..store.records import generation_payload


@dataclass
class Review:
    """A human sign-off as logged (the review component's event payload, read leniently)."""

    reviewer: str
    role: str
    action: str
    rationale: str
    at: str


@dataclass
class Evidence:
    record: GenerationRecord
    field_attribution: AttributionResult | None = None  # field (or segment) granularity: principal reasons
    token_attribution: AttributionResult | None = None  # token granularity: the heatmaps
    attention: AttentionResult | None = None
    replay: ReplayResult | None = None
    reviews: list[Review] = field(default_factory=list)
    privacy: str | None = None  # redaction / erasure status in words, for sealed records


@dataclass
class IntegrityStatus:
    state: str  # "verified" | "failed" | "unavailable"
    message: str


def record_hash(record: GenerationRecord) -> tuple[str, str]:
    """SHA-256 of the generation event's payload as canonical JSON, and how it was canonicalised.

    RFC 8785 (JCS) is what the audit chain hashes, so the two can be compared; a payload
    JCS refuses (a non-finite float) falls back to sorted-key JSON and says so.
    """
    payload = generation_payload(record)
    try:
        import rfc8785

        return hashlib.sha256(rfc8785.dumps(payload)).hexdigest(), "RFC 8785 canonical JSON"
    except Exception:  # noqa: BLE001 - rfc8785 missing or a NaN/inf in the payload
        return hashlib.sha256(
            canonical_json(payload).encode("utf-8")
        ).hexdigest(), "sorted-key JSON (payload has non-finite numbers)"


def _latest(repo: Any, record_id: str, **kwargs: Any) -> Any:
    if repo is None or not hasattr(repo, "latest"):
        return None
    try:
        return repo.latest(record_id, **kwargs)
    except TypeError:  # an implementation without the keyword filters
        return repo.latest(record_id) if not kwargs else None


def _reviews(store: Any, record_id: str) -> list[Review]:
    events = getattr(store, "events", None)
    if events is None:
        return []
    out = []
    for event in events.iter(subject_id=record_id, kind="review"):
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


def gather(store: Any, record: GenerationRecord, *, full: bool = True) -> Evidence:
    """Collect the latest stored result of each component for ``record`` (None where absent).

    ``full=False`` skips what a summary never shows (token attributions, attention maps,
    reviews), so summarising a thousand records reads only small rows.
    """
    explanations = getattr(store, "explanations", None)
    field_attr = _latest(explanations, record.id, granularity="field") or _latest(
        explanations, record.id, granularity="segment"
    )
    return Evidence(
        record=record,
        field_attribution=field_attr,
        token_attribution=_latest(explanations, record.id, granularity="token") if full else None,
        attention=_latest(getattr(store, "attention", None), record.id) if full else None,
        replay=_latest(getattr(store, "replays", None), record.id),
        reviews=_reviews(store, record.id) if full else [],
        privacy=privacy_note(store, record),
    )


def privacy_note(store: Any, record: GenerationRecord) -> str | None:
    """What the privacy component did to this record, as the report states it (None: not sealed)."""
    info = (record.tags or {}).get("privacy")
    if not isinstance(info, dict) or not info.get("sealed"):
        return None
    repo = getattr(store, "privacy", None)
    erased = repo.erasure(record.id) if repo is not None else None
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


def integrity_status(verify: Any) -> IntegrityStatus:
    """Run the integrity component's ``verify`` if there is one; never let it stop a report."""
    if verify is None:
        return IntegrityStatus(
            "unavailable",
            "Integrity verification is not available in this installation; the audit log was not verified.",
        )
    try:
        result = verify()
    except Exception as exc:  # noqa: BLE001 - a report must still say what happened
        return IntegrityStatus("failed", f"Verification could not run: {type(exc).__name__}: {exc}")
    if getattr(result, "ok", False):
        return IntegrityStatus(
            "verified", "The audit log verified intact when this report was generated (llm-audit verify)."
        )
    detail = getattr(result, "message", None) or getattr(result, "error", None) or getattr(result, "summary", None)
    return IntegrityStatus("failed", "The audit log FAILED verification" + (f": {detail}" if detail else "."))


def mean_logprob(record: GenerationRecord) -> float:
    lps = [x for x in record.token_logprobs if math.isfinite(x)]
    return sum(lps) / len(lps) if lps else float("nan")
