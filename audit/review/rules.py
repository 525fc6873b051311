"""The review queue's rules: one small function per reason a record needs a human.

Each rule reads a record's :class:`~audit.store.review_index.RecordFacts` and returns why the
record needs a human, in words, or None. A record is in the queue while at least one rule
fires; its urgency is that of its most urgent reason (smaller ``rank`` first), then oldest
first. Problems with the evidence (a replay that did not reproduce the output, a failed
attribution check) stop needing a human once somebody signs the record off *after* that
evidence was logged; an open finding needs one until it is resolved; and every record needs
one until its first sign-off.

The problems are worded by the summary report's own checks
(:func:`audit.report.summary.replay_problem`, :func:`~audit.report.summary.attribution_problems`),
so the queue and the report never disagree about what is wrong with a record.

Three rules read the recorded decision (``GenerationRecord.decision``): an *adverse decision*
(rank 10: the chosen label is not the favourable one, so a person must look before the applicant
is told), a text that *disagrees* with the scored decision (rank 15, ``free`` mode only), and a
*small margin* (rank 35: a near-tie, below :data:`audit.decision.outcome.SMALL_MARGIN` log-odds,
the threshold the summary report uses). A fourth, *label mass* (rank 12), fires where the labels held less
than the record's minimum share of the model's probability (:mod:`audit.decision.mass`): the decision is
not one the model made. Each stops needing a human at the record's first sign-off.

A fired monitoring alert (:mod:`audit.monitor`, rank 25) names the records of the group and window it
fired on; each needs a human until somebody signs it off after the alert was logged (that sign-off
is the alert's acknowledgement for that record, in the log like every sign-off).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ..decision.mass import label_mass_of, mass_problem
from ..report.summary import attribution_problems, disagreement_problem, margin_problem, replay_problem
from ..store.review_index import IndexEntry, RecordFacts


@dataclass(frozen=True)
class Rule:
    reason: str  # the key shown in counts and used to filter the queue
    title: str  # the reason in words, for the queue's counts
    rank: int  # smaller is more urgent
    check: Callable[[RecordFacts], str | None]


def _signed_off_after(facts: RecordFacts, evidence_seq: int | None) -> bool:
    return facts.review_seq is not None and evidence_seq is not None and facts.review_seq > evidence_seq


def replay_not_identical(facts: RecordFacts) -> str | None:
    """The latest replay did not reproduce the record, and nobody signed it off since."""
    if _signed_off_after(facts, facts.replay_seq):
        return None
    return replay_problem(facts.replay_verdict, facts.replay_step)


def failed_attribution_check(facts: RecordFacts) -> str | None:
    """The latest field attribution failed its log-probability or stability check, not signed off since."""
    if _signed_off_after(facts, facts.attribution_seq):
        return None
    problems = attribution_problems(facts.attribution_logprob_diff, facts.attribution_stability)
    return "; ".join(problems) or None


def open_finding(facts: RecordFacts) -> str | None:
    """A reviewer flagged the record with a finding nobody has resolved yet."""
    if not facts.open_findings:
        return None
    order = ("critical", "high", "medium", "low", "")
    severity, text = min(facts.open_findings, key=lambda f: order.index(f[0]) if f[0] in order else len(order))
    more = f" (+{len(facts.open_findings) - 1} more)" if len(facts.open_findings) > 1 else ""
    return f"open finding, {severity or 'no'} severity: {text[:80]}{'…' if len(text) > 80 else ''}{more}"


def unreadable_evidence(facts: RecordFacts) -> str | None:
    """A stored value of the record is not one JSON value (a duplicate key, say): no rule can read it safely."""
    return f"evidence unreadable ({facts.unreadable}): run `llm-audit verify`" if facts.unreadable else None


def monitoring_alert(facts: RecordFacts) -> str | None:
    """A monitoring rule fired on a window this record is part of, and nobody signed the record off since."""
    pending = [(severity, text) for severity, text, seq in facts.alerts if not _signed_off_after(facts, seq)]
    if not pending:
        return None
    severity, text = pending[-1]
    more = f" (+{len(pending) - 1} more)" if len(pending) > 1 else ""
    return f"monitoring alert, {severity} severity: {text[:120]}{'…' if len(text) > 120 else ''}{more}"


def not_reviewed(facts: RecordFacts) -> str | None:
    """Nobody has signed the record off yet."""
    return None if facts.review_action is not None else "no sign-off yet"


def adverse_decision(facts: RecordFacts) -> str | None:
    """The model chose an outcome other than the favourable one, and nobody has signed it off yet."""
    if facts.decision is None or facts.decision == facts.decision_favourable or facts.review_action is not None:
        return None
    return f"adverse decision: {facts.decision} (favourable: {facts.decision_favourable})"


def decision_disagrees(facts: RecordFacts) -> str | None:
    """The generated text does not state the scored decision, and nobody has signed it off yet."""
    if facts.decision is None or facts.review_action is not None:
        return None
    return disagreement_problem(facts.decision, facts.decision_stated, bool(facts.decision_agrees))


def low_label_mass(facts: RecordFacts) -> str | None:
    """The labels held less than the record's minimum share of the model's probability, not signed off yet."""
    if facts.decision is None or not facts.decision_label_logprobs or facts.review_action is not None:
        return None
    mass = label_mass_of(facts.decision_label_logprobs, facts.decision_min_label_mass)
    return mass_problem(facts.decision, mass.total, mass.minimum)


def small_margin(facts: RecordFacts) -> str | None:
    """The decision was a near-tie, and nobody has signed it off yet."""
    if facts.decision is None or facts.decision_margin is None or facts.review_action is not None:
        return None
    return margin_problem(facts.decision, facts.decision_runner_up or "", float(facts.decision_margin))


# Most urgent first.
RULES: tuple[Rule, ...] = (
    Rule("unreadable", "Evidence unreadable (edited outside llm-audit)", 5, unreadable_evidence),
    Rule("adverse-decision", "Adverse decision", 10, adverse_decision),
    Rule("label-mass", "Labels hold too little of the model's probability", 12, low_label_mass),
    Rule("decision-disagrees", "Text disagrees with the scored decision", 15, decision_disagrees),
    Rule("replay", "Replay did not reproduce the output", 20, replay_not_identical),
    Rule("alert", "Part of a window a monitoring alert fired on", 25, monitoring_alert),
    Rule("attribution-check", "Failed attribution check", 30, failed_attribution_check),
    Rule("small-margin", "Small decision margin", 35, small_margin),
    Rule("finding", "Flagged with an open finding", 40, open_finding),
    Rule("unreviewed", "Not yet reviewed", 90, not_reviewed),
)
REASONS = {rule.reason: rule for rule in RULES}
# Part of the index: a different rule set rebuilds the review index on the next refresh.
RULES_VERSION = hashlib.sha256(repr([(r.reason, r.rank, r.check.__name__) for r in RULES]).encode()).hexdigest()[:16]


def evaluate(facts: RecordFacts) -> IndexEntry:
    """Run every rule on one record: its reasons (most urgent first) and rank (None: not in the queue); the
    record's label mass is set for the worklist on the way (the decision's one reader of it)."""
    if facts.decision_label_logprobs:
        facts.label_mass = label_mass_of(facts.decision_label_logprobs).total
    reasons = []
    rank = None
    for rule in RULES:
        why = rule.check(facts)
        if why:
            reasons.append((rule.reason, why))
            rank = rule.rank if rank is None else min(rank, rule.rank)
    return IndexEntry(facts, rank, reasons)
