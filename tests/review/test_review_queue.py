"""The review queue's rules and the review index: reasons, urgency, counts, incremental refresh, filters.

Each rule fires on the evidence the report itself flags (a replay that did not reproduce the
record, a failed attribution check), on an open finding, and on every record nobody signed off;
a sign-off *after* the evidence clears the evidence's reason, a newer problem brings it back.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from audit import Auditor
from audit.decision.mass import share_text
from audit.review.queue import refresh
from audit.review.roles import Principal
from audit.review.rules import RULES_VERSION
from audit.store import AuditStore
from audit.ui.forms import record_filter
from tests.conftest import one_torch_thread
from tests.report_evidence import field_attribution, replay

CLI = Principal("root", "admin", "cli")
PASSWORD = "correct horse battery"
PROMPTS = ["Income 42000, score 580. Approve?", "Summarise: bond yields rose sharply.", "Clause 4.2 limits liability."]


@pytest.fixture
def queue_db(tiny_loaded, tmp_path):
    """Four records: a diverged replay, a failed attribution check, an open finding, and a plain one."""
    db = tmp_path / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops")
    with one_torch_thread():
        credit = auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "42000", "score": "580"},
            max_new_tokens=3,
            use_case="credit-decision",
        )
        others = [auditor.generate(prompt=p, max_new_tokens=3, use_case="news") for p in PROMPTS]
        attribution = field_attribution(tiny_loaded, credit)
    with AuditStore.open(db, write=True) as store:
        diverged = dataclasses.replace(replay(others[0], "diverged"), id=None, created_at=None)
        store.replays.append(diverged)
        store.explanations.append(dataclasses.replace(attribution, logprob_max_diff=0.5))
    auditor.reviews.accounts.add(CLI, "rita", "reviewer", PASSWORD)
    rita = auditor.reviews.session_user("rita")
    auditor.reviews.add_finding(rita, others[1].id, "high", "outcome", "the clause summary is wrong")
    return auditor, rita, credit.id, [r.id for r in others]


def queue(auditor, reason=None):
    return auditor.reviews.queue(CLI, reason)


def test_reasons_urgency_and_counts(queue_db):
    auditor, _, credit, (diverged, flagged, plain) = queue_db
    q = queue(auditor)
    order = [row.record_id for row in q.rows]
    assert order == [diverged, credit, flagged, plain]  # replay (20), attribution (30), finding (40), unreviewed (90)
    reasons = {row.record_id: row.reasons for row in q.rows}
    assert reasons[diverged][0] == ("replay", "replay diverged at step 3")
    assert reasons[credit][0] == ("attribution-check", "attribution log-prob check off by 5.0e-01")
    assert reasons[flagged][0] == ("finding", "open finding, high severity: the clause summary is wrong")
    assert reasons[plain] == [("unreviewed", "no sign-off yet")]
    assert {reason: n for reason, _, n in q.counts} == {
        "unreadable": 0,
        "adverse-decision": 0,
        "label-mass": 0,
        "decision-disagrees": 0,
        "small-margin": 0,
        "replay": 1,
        "alert": 0,
        "attribution-check": 1,
        "finding": 1,
        "unreviewed": 4,
    }
    assert [r.record_id for r in queue(auditor, "finding").rows] == [flagged]


def test_a_sign_off_clears_older_evidence_and_a_newer_problem_brings_the_record_back(queue_db, tiny_loaded):
    auditor, rita, credit, (diverged, flagged, plain) = queue_db
    reviews = auditor.reviews
    reviews.sign_off(rita, diverged, "accept", rationale="divergence at a near tie, output equivalent")
    reviews.sign_off(rita, plain, "accept")
    reviews.sign_off(rita, flagged, "override", "REDRAFT", "summary wrong")
    q = queue(auditor)
    assert [r.record_id for r in q.rows] == [credit, flagged]
    assert [reason for reason, _ in q.rows[1].reasons] == ["finding"]  # signed off, but the finding is open
    finding = AuditStore.open(auditor.db_path).findings.of_record(flagged)[0]
    reviews.resolve_finding(Principal("val", "validator", "web"), finding.id, "fixed")
    with AuditStore.open(auditor.db_path) as store:
        record = store.records.get(diverged)
    with AuditStore.open(auditor.db_path, write=True) as store:  # a newer replay diverges again
        store.replays.append(dataclasses.replace(replay(record, "logprob-drift"), id=None, created_at=None))
    q = queue(auditor)
    assert [r.record_id for r in q.rows] == [diverged, credit]
    assert q.rows[0].reasons == [("replay", "replay logprob-drift")]
    with AuditStore.open(auditor.db_path) as store:
        rows = {r.record_id: r for r in store.review_index.records(_filter(), limit=10, offset=0)[0]}
    assert rows[flagged].review_state == "overridden" and rows[flagged].open_findings == 0
    assert rows[diverged].replay_verdict == "logprob-drift" and rows[plain].review_state == "accepted"


def _filter(**kw):
    from audit.store.review_index import RecordFilter

    return RecordFilter(**kw)


def test_refresh_folds_in_only_new_events_and_a_new_rule_set_rebuilds(queue_db):
    auditor, rita, credit, others = queue_db
    with AuditStore.open(auditor.db_path, write=True) as store:
        assert refresh(store) == 4  # first build: every record
        assert refresh(store) == 0  # nothing new
    auditor.reviews.sign_off(rita, credit, "accept")
    with AuditStore.open(auditor.db_path, write=True) as store:
        assert refresh(store) == 1  # only the signed-off record
        store.db.execute("UPDATE review_index_meta SET value = 'older rules' WHERE key = 'rules'")
        assert refresh(store) == 4 and store.review_index.meta("rules") == RULES_VERSION


def test_records_list_filters_search_and_pages(queue_db):
    auditor, rita, credit, (diverged, flagged, plain) = queue_db
    reviews = auditor.reviews
    reviews.sign_off(rita, plain, "accept")
    page = lambda **kw: [r.record_id for r in reviews.records(CLI, record_filter(kw))[0].rows]  # noqa: E731
    assert page(use_case="credit-decision") == [credit]
    assert page(review="accepted") == [plain]
    assert page(replay="diverged") == [diverged]
    assert page(q="bond yields") == [flagged]
    assert page(q="Clause liability") == [plain] and page(q="liab") == [plain]  # words, prefixes
    assert page(q="<script>") == [] and page(q="nothing-like-this") == []
    assert set(page(operator="ops")) == {credit, diverged, flagged, plain}
    first, _ = reviews.records(CLI, record_filter({}), 1)
    assert first.total == 4 and first.pages == 1 and [r.record_id for r in first.rows][0] == plain  # newest first
    with pytest.raises(Exception, match="review state"):
        record_filter({"review": "maybe"})


def test_decision_rules_read_the_recorded_decision(tiny_loaded, tmp_path):
    """Adverse decision (10), a text that does not state the decision (15), a near-tie (35); a sign-off clears them."""
    auditor = Auditor(db=tmp_path / "decided.db", model=tiny_loaded, operator="ops")
    spec = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"}
    with one_torch_thread():
        first = auditor.generate(prompt=PROMPTS[0], max_new_tokens=3, use_case="credit-decision", decision=spec)
        chosen = first.decision.chosen  # the same prompt and seed choose the same label whichever is favourable
        other = "DECLINE" if chosen == "APPROVE" else "APPROVE"
        favourable, adverse = (
            auditor.generate(
                prompt=PROMPTS[0], max_new_tokens=3, use_case="credit-decision", decision={**spec, "favourable": f}
            )
            for f in (chosen, other)
        )
        constrained = auditor.generate(
            prompt=PROMPTS[0],
            max_new_tokens=3,
            use_case="credit-decision",
            decision={**spec, "favourable": chosen, "mode": "constrained"},
        )
        trusting = auditor.generate(
            prompt=PROMPTS[0], max_new_tokens=3, use_case="credit-decision", decision={**spec, "min_label_mass": 0.0}
        )
    d = adverse.decision
    assert d.chosen == chosen and d.favourable != chosen and constrained.decision.agrees
    reasons = {row.record_id: dict(row.reasons) for row in queue(auditor).rows}
    # Label mass, from an independent sum of the recorded raw label probabilities (the tiny random model's are tiny).
    mass = sum(math.exp(lp) for lp in d.label_logprobs.values())
    assert mass < 0.5 and d.min_label_mass == 0.5  # the default is recorded with the decision
    assert reasons[adverse.id]["label-mass"] == (
        f"label mass {share_text(mass)}: the model put only {share_text(mass)} of its probability on the labels "
        f"(minimum 0.5), so {chosen} is not a decision the model made"
    )
    assert trusting.decision.min_label_mass == 0.0 and "label-mass" not in reasons[trusting.id]
    assert reasons[adverse.id]["adverse-decision"] == f"adverse decision: {chosen} (favourable: {d.favourable})"
    assert "adverse-decision" not in reasons[favourable.id] and "adverse-decision" not in reasons[constrained.id]
    stated = f"states {d.stated}" if d.stated else "states no decision"
    disagree = f"text {stated}, but the scored decision is {chosen}"
    assert reasons[adverse.id].get("decision-disagrees") == (None if d.agrees else disagree)
    assert "decision-disagrees" not in reasons[constrained.id]  # constrained: the text starts with the label
    near = f"small decision margin: {chosen} by {d.margin:.2f} log-odds over {d.runner_up}"
    assert reasons[adverse.id].get("small-margin") == (near if d.margin < 0.5 else None)
    rank = next(row.rank for row in queue(auditor).rows if row.record_id == adverse.id)
    assert rank == 10
    auditor.reviews.accounts.add(CLI, "rita", "reviewer", PASSWORD)
    rita = auditor.reviews.session_user("rita")
    auditor.reviews.sign_off(rita, adverse.id, "accept", rationale="checked the file")
    assert adverse.id not in {row.record_id for row in queue(auditor).rows}


def test_the_small_margin_rule_uses_the_summary_threshold():
    from audit.decision.outcome import SMALL_MARGIN
    from audit.review.rules import small_margin
    from audit.store.review_index import RecordFacts

    def facts(margin):
        f = RecordFacts(1, "r", "2026-01-01", "credit-decision", "ops", False)
        f.decision, f.decision_favourable, f.decision_runner_up, f.decision_margin = (
            "DECLINE",
            "APPROVE",
            "APPROVE",
            margin,
        )
        return f

    assert small_margin(facts(SMALL_MARGIN - 0.01)) == "small decision margin: DECLINE by 0.49 log-odds over APPROVE"
    assert small_margin(facts(SMALL_MARGIN)) is None
