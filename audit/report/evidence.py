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
from ..clock import normalise_time
from ..counterfactual.result import CounterfactualResult
from ..fairness.result import FairnessResult
from ..record import GenerationRecord
from ..replay.result import ReplayResult
from ..store import AuditStore


@dataclass
class Review:
    """A human sign-off as the ``reviews`` table and its ``review`` event hold it."""

    reviewer: str
    role: str
    action: str  # "accept" | "override"
    rationale: str
    at: str
    decision: str | None = None  # the reviewer's own decision, for an override
    via: str = ""  # "web" | "api" | "cli"
    record_sha256: str = ""  # the record hash the reviewer saw
    effective: bool = False  # the latest sign-off: the one that counts

    @property
    def outcome(self) -> str:
        return "Accepted the model's output" if self.action == "accept" else f"Overridden: {self.decision or ''}"


@dataclass(frozen=True)
class LoggedRecord:
    """Where the generation event of a record sits in the log, and the hash it commits to."""

    seq: int
    payload_sha256: str


@dataclass(frozen=True)
class LoggedItem:
    """One piece of a dossier's evidence and the seq of its event (None: not in the log), for the integrity box."""

    label: str  # "Generation record", "Explanation (field, feature-ablation)", ...
    seq: int | None
    caveat: str | None = None  # why it is not verified even when covered (merged from an unsigned shard)


@dataclass(frozen=True)
class FairnessStanding:
    """Where one record stood in one stored protected-attribute run: what its dossier may say about it."""

    run: FairnessResult
    seq: int | None  # the run's event in the log (None: not logged)
    state: str  # "flipped" | "scored" (no flip) | "skipped" | "outside" (not among the records it selected)
    detail: str = ""  # why skipped, or why outside


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
    logged_items: list[LoggedItem] = field(default_factory=list)  # what the integrity box vouches for, piece by piece
    decision_attribution: AttributionResult | None = None  # field (or segment) explanation of the decision
    decision_token_attribution: AttributionResult | None = None  # token explanation of the decision
    counterfactual: CounterfactualResult | None = None  # the latest counterfactual run of the decision (full only)
    counterfactuals: list[CounterfactualResult] = field(default_factory=list)  # every run of the record, newest first
    fairness_flips: list[FairnessStanding] = field(default_factory=list)  # runs in which the decision flipped (full)
    fairness_latest: FairnessStanding | None = None  # the newest protected-attribute run, flipped or not (full)
    fairness_runs: int = 0  # protected-attribute runs stored in the database (full)
    fairness_standings: list[FairnessStanding] = field(default_factory=list)  # every run that selected it, newest first


@dataclass
class IntegrityStatus:
    state: str  # "verified" | "unverified" | "failed" | "unavailable"
    message: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (piece of evidence, what covers it), dossiers only


def _reviews(store: AuditStore, record_id: str) -> list[Review]:
    found = store.reviews.of_record(record_id)
    return [
        Review(
            r.reviewer,
            r.role,
            r.action,
            r.rationale,
            r.created_at,
            r.decision,
            r.via,
            r.record_sha256,
            i == len(found) - 1,
        )
        for i, r in enumerate(found)
    ]


def logged_items(store: AuditStore, evidence: Evidence) -> list[LoggedItem]:
    """Each piece of evidence the dossier shows, with the seq of the event that logged it."""

    def seq(kind: str, subject_id: str | None) -> int | None:
        event = store.events.logged(kind, subject_id) if subject_id else None
        return event.seq if event is not None else None

    items = [LoggedItem("Generation record", evidence.logged.seq if evidence.logged else None)]
    for attribution in (evidence.field_attribution, evidence.token_attribution):
        if attribution is not None:
            label = f"Explanation ({attribution.granularity}, {attribution.method})"
            items.append(LoggedItem(label, seq("explanation", attribution.id)))
    if evidence.attention is not None:
        items.append(LoggedItem("Attention analysis", seq("attention", evidence.attention.id)))
    if evidence.replay is not None:
        items.append(LoggedItem(f"Replay ({evidence.replay.verdict})", seq("replay", evidence.replay.id)))
    if evidence.counterfactual is not None:
        items.append(LoggedItem("Counterfactual run", seq("counterfactual", evidence.counterfactual.id)))
    items += [
        LoggedItem(f"Protected-attribute run {standing.run.id}", standing.seq) for standing in evidence.fairness_flips
    ]
    items += [
        LoggedItem(f"Sign-off ({review.action})", seq(store.reviews.kind, review.id))
        for review in store.reviews.of_record(evidence.record.id)
    ]
    # Every other event about the record: its erasure, legal holds and releases, each with its own coverage.
    words = {"erasure": "Erasure", "hold": "Legal hold", "release": "Release of a legal hold"}
    for kind, word in words.items():
        items += [LoggedItem(word, event.seq) for event in store.events.iter(subject_id=evidence.record.id, kind=kind)]
    merged = store.provenance.of(evidence.record.id)
    if merged is not None:
        trust = merged.source_trust or "merged before 0.2, trust not recorded"
        caveat = None
        if trust.startswith("unsigned"):
            caveat = (
                f"merged from host {merged.source_host}'s shard under --allow-unsigned: no checkpoint of a trusted key "
                "covered it there, so nothing vouches that it is what that host recorded"
            )
        label = f"Provenance (merged from {merged.source_host}: {trust})"
        items.append(LoggedItem(label, seq(store.provenance.kind, merged.id), caveat))
    return items


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
    evidence = Evidence(
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
    if full:
        evidence.counterfactuals = list(store.counterfactuals.iter(record.id))[::-1]
        evidence.counterfactual = evidence.counterfactuals[0] if evidence.counterfactuals else None
        _fairness(store, evidence)
        evidence.logged_items = logged_items(store, evidence)
    return evidence


def _fairness(store: AuditStore, evidence: Evidence) -> None:
    """The protected-attribute runs in which the record's decision flipped, and the newest run's standing.

    The flips come from the runs whose stored body names the record (a flipped record is named in its
    run's flips); the list of every run that selected the record reads each run's body (runs are few and
    hold aggregates, not per-record scores).
    """
    record = evidence.record
    if record.decision is None:
        return
    repository = store.fairness
    evidence.fairness_runs = repository.count()
    if not evidence.fairness_runs:
        return
    mine = evidence.logged.seq if evidence.logged is not None else None
    for run in repository.mentioning(record.id):
        standing = fairness_standing(store, run, record, mine)
        if standing.state == "flipped":
            evidence.fairness_flips.append(standing)
    latest = repository.latest()
    if latest is not None:
        evidence.fairness_latest = fairness_standing(store, latest, record, mine)
    every = (fairness_standing(store, run, record, mine) for run in repository.iter())
    evidence.fairness_standings = [s for s in every if s.state != "outside"][::-1]


def fairness_standing(
    store: AuditStore, run: FairnessResult, record: GenerationRecord, record_seq: int | None
) -> FairnessStanding:
    """Whether ``record`` flipped in ``run``, was scored without a flip, was skipped, or was not selected at all
    (another use case, outside the run's period, or recorded after it): the run's own selection, replayed."""
    event = store.events.logged("fairness", run.id) if run.id else None
    seq = event.seq if event is not None else None

    def standing(state: str, detail: str = "") -> FairnessStanding:
        return FairnessStanding(run, seq, state, detail)

    if run.flips_of(record.id):
        return standing("flipped")
    if record.id in run.skipped:
        return standing("skipped", run.skipped[record.id])
    if run.use_case and run.use_case != record.use_case:
        return standing("outside", f"it covered use case {run.use_case} only")
    since = normalise_time(run.filters.get("since"), "since", store_format=True)
    until = normalise_time(run.filters.get("until"), "until", store_format=True)
    if (since and record.started_at < since) or (until and record.started_at >= until):
        return standing("outside", "the record falls outside the period it covered")
    if seq is not None and record_seq is not None and record_seq > seq:
        return standing("outside", "the record was made after it ran")
    return standing("scored")


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


def mean_logprob(record: GenerationRecord) -> float:
    lps = [x for x in record.token_logprobs if math.isfinite(x)]
    return sum(lps) / len(lps) if lps else float("nan")
