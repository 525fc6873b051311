"""The reasons gate on planted models: reasons and notice wording only where the explanation is faithful.

Two tiny models trained on the same applications (every field also left empty, as a field explanation
removes it): one declines exactly when the repayment history is "defaulted" and ignores the protected
name and age; the other declines every application whatever its fields say. The first must get its
principal reason and the notice wording; the second none, with the section saying why. The gate's
figures are checked against independent re-scorings of the prompt with fields emptied (the template
formatted and tokenised here, scored by the label scorer), not against the explanation's own numbers.
"""

from __future__ import annotations

import html as entities
import re
from dataclasses import replace

import pytest

from audit import Auditor
from audit.counterfactual.result import Alternative, CounterfactualResult
from audit.decision.labels import label_token_ids
from audit.decision.scorer import score_labels
from audit.demo import reasons_line
from audit.report import IntegrityStatus, build_dossier, build_summary, gather, render_dossiers, render_summary
from audit.report.reasons_gate import reasons_gate
from audit.store import AuditStore
from audit.tolerances import REASONS_COMPLETENESS, REASONS_DELETION
from tests.planted import GATE_TEMPLATE, build_planted_model, by_history, by_nothing

OK = IntegrityStatus("verified", "ok")

pytestmark = pytest.mark.usefixtures("single_thread")
APPLICATION = {"applicant_name": "James Miller", "age": "41", "history": "defaulted"}
NOTICE = "Delinquent past or present credit obligations with others"
DECISION = {
    "labels": ["APPROVE", "DECLINE"],
    "favourable": "APPROVE",
    "reasons": {"history": NOTICE},
    "protected": ["applicant_name", "age"],
}


def _text(page: str) -> str:
    return entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _score(auditor: Auditor, record, variables: dict[str, str]) -> float:
    """log p(DECLINE) - log p(APPROVE) after the template with ``variables``, independently of the explainer."""
    tok = auditor.loaded.tokenizer
    text = GATE_TEMPLATE.format(**variables)
    ids = tok(text, add_special_tokens=True)["input_ids"]
    labels = [label_token_ids(tok, text, ids, True, label) for label in ("APPROVE", "DECLINE")]
    lp = score_labels(auditor.loaded.model, [ids], labels)[0]
    return float(lp[1] - lp[0])


def _section(page: str, start: str, end: str) -> str:
    text = _text(page)
    return text[text.index(start) : text.index(end)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(auditor, record) per rule: the application recorded and explained against the favourable label."""
    out = {}
    for rule in (by_history, by_nothing):
        folder = tmp_path_factory.mktemp(rule.__name__)
        build_planted_model(folder / "model", rule=rule, steps=300, blanks=True, stop_loss=0.05, gate=True, lr=1e-2)
        auditor = Auditor(db=folder / "a.db", model=str(folder / "model"))
        record = auditor.generate(
            template=GATE_TEMPLATE,
            variables=APPLICATION,
            decision=DECISION,
            max_new_tokens=3,
            use_case="credit-decision",
        )
        assert record.decision.chosen == "DECLINE", f"{rule.__name__} must decline the application"
        auditor.explain(record.id, granularity="field", contrast="APPROVE")
        out[rule.__name__] = (auditor, record)
    return out


def _dossier(auditor: Auditor, record) -> tuple[str, object]:
    with AuditStore.open(auditor.db_path) as store:
        evidence = gather(store, store.records.get(record.id))
    page = render_dossiers([build_dossier(evidence, "2026-03-04T12:00:00Z", IntegrityStatus("verified", "ok"))], "x")
    return page, evidence


def test_a_decision_that_follows_one_field_gets_that_reason_and_the_notice_wording(planted):
    auditor, record = planted["by_history"]
    auditor.counterfactual(record.id, {"history": ["clean"], "applicant_name": ["Emily Walsh"]})
    page, evidence = _dossier(auditor, record)
    result = evidence.decision_attribution
    # independent figures: the prompt re-scored with the history emptied, and with every field emptied
    full = _score(auditor, record, APPLICATION)
    without_history = _score(auditor, record, {**APPLICATION, "history": ""})
    empty = _score(auditor, record, {"applicant_name": "", "age": "", "history": ""})
    assert full == pytest.approx(
        record.decision.label_logprobs["DECLINE"] - record.decision.label_logprobs["APPROVE"], abs=1e-3
    )
    deletion = result.deletion
    assert deletion["features"] == ["history"]
    assert deletion["observed"] == pytest.approx(full - without_history, abs=1e-3)
    assert abs(deletion["observed"] - deletion["claimed"]) <= REASONS_DELETION * abs(deletion["claimed"])
    change = result.completeness["score_change"]
    assert change == pytest.approx(full - empty, abs=1e-3)
    assert abs(result.completeness["attributed"] - change) <= REASONS_COMPLETENESS * abs(change)

    gate = reasons_gate(record, result, evidence.counterfactuals, evidence.fairness_flips)
    assert gate.passed, gate.why_not
    assert reasons_line(record, result) == "principal reasons: given (every check of the reasons gate passes)"
    section2 = _section(page, "2 Decision", "3 Why")
    section3 = _section(page, "3 Why", "4 What would have changed")
    assert "Unexplainable" not in section2 and "Unexplainable" not in section3
    assert "Principal reasons for the adverse action" in section3
    assert "History (defaulted) weighed toward DECLINE rather than APPROVE:" in section3
    assert "log-odds of DECLINE over APPROVE" in section3
    assert f"Reason on the notice: “{NOTICE}”" in section3
    assert "As an adverse-action notice would state them" in section3 and NOTICE in section3
    assert "The counterfactual runs (fields varied: applicant name, history) agree with the reasons." in section3
    assert f"moves the log-odds of DECLINE over APPROVE by {full - without_history:+.3f}" in section3
    assert "Applicant name (James Miller) weighed" not in section3 and "Age (41) weighed" not in section3
    # The summary counts the same reason, because it passes the same gate.
    (use_case,) = build_summary([evidence], "t", OK, []).use_cases
    assert [row[0] for row in use_case.reasons] == ["history"] and use_case.adverse_unfaithful == 0

    # The same explanation, beside a counterfactual run in which the applicant's name alone flips the decision:
    # the counterfactuals contradict the reasons, so no reasons are given and the page says which run and why.
    flipped = CounterfactualResult(
        record_id=record.id,
        labels=["APPROVE", "DECLINE"],
        favourable="APPROVE",
        recorded_chosen="DECLINE",
        recorded_probabilities=dict(record.decision.probabilities),
        fields={"applicant_name": ["Emily Walsh"]},
        pairs=False,
        alternatives=[
            Alternative({"applicant_name": "Emily Walsh"}, {}, {"APPROVE": 0.9, "DECLINE": 0.1}, "APPROVE", True)
        ],
        smallest_flip={"applicant_name": 0},
        logprob_max_diff=0.0,
        model={},
    )
    contradicted = reasons_gate(record, result, [flipped], ())
    assert not contradicted.passed
    assert [c.name for c in contradicted.failed] == ["Counterfactuals"]
    assert (
        "DECLINE would have been APPROVE had the applicant name been Emily Walsh, yet the explanation does not name "
        "applicant name among the reasons." in contradicted.why_not
    )
    # explained on other weights: refused as evidence about the recorded decision
    other = replace(result, extra={**result.extra, "weights_sha256": {"model.safetensors": "0" * 64}})
    assert [c.name for c in reasons_gate(record, other).failed] == ["Recorded model"]


def test_a_decision_that_depends_on_no_field_gets_no_reasons_and_says_why(planted):
    auditor, record = planted["by_nothing"]
    page, evidence = _dossier(auditor, record)
    full = _score(auditor, record, APPLICATION)
    empty = _score(auditor, record, {"applicant_name": "", "age": "", "history": ""})
    assert full > 5 and abs(full - empty) < 0.1 * full  # the planted model declines whatever the fields say
    section2 = _section(page, "2 Decision", "3 Why")
    section3 = _section(page, "3 Why", "4 What would have changed")
    failed = [c.name.lower() for c in reasons_gate(record, evidence.decision_attribution).failed]
    assert "fields matter" in failed
    assert reasons_line(record, evidence.decision_attribution) == (
        f"principal reasons: NONE can be given (failed: {', '.join(failed)})"
    )
    assert "No faithful reasons can be given for the adverse outcome" in section3
    assert "Principal reasons for the adverse action" not in section3
    assert "Reason on the notice" not in section3 and "As an adverse-action notice would state them" not in section3
    assert f"Removing every field moves the log-odds of DECLINE over APPROVE by {full - empty:+.3f}" in section3
    assert "the fields together do not move the decision toward DECLINE" in section3
    assert (
        "Unexplainable for an adverse-action notice." in section2 and "do not send an adverse-action notice" in section2
    )
    # The summary gives no principal reasons for it either: explained, but unfaithful.
    summary = build_summary([evidence], "t", OK, [])
    (use_case,) = summary.use_cases
    assert use_case.reasons == [] and (use_case.adverse_explained, use_case.adverse_unfaithful) == (1, 1)
    assert "none passes the reasons gate" in _text(render_summary(summary))
