"""Dossiers and summaries of decisions: the decision first, adverse-action reasons worded like a notice.

Records on the tiny model: one adverse credit decision explained against the favourable label (field
and token), the same application with the other label favourable, and a news summary without a
decision. The expected reasons are recomputed from the stored explanations, so the test checks the
page against the numbers, not against a copy of the template's wording alone.
"""

from __future__ import annotations

import json
import re

import pytest

from audit import Auditor
from audit.decision.reasons import toward_decision
from audit.report import IntegrityStatus, build_dossier, build_summary, gather, render_dossiers, render_summary
from audit.report.reasons import field_words
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")
OK = IntegrityStatus("verified", "ok")
AT = "2026-03-04T12:00:00Z"
CREDIT = dict(
    system="Credit analyst.",
    template="Income {income}, debt {debt}, score {score}. Approve?",
    variables={"income": "$42,000", "debt": "$1,900", "score": "580"},
    use_case="credit-decision",
    max_new_tokens=3,
)
REASONS = {
    "income": "Income insufficient for amount of credit requested",
    "debt": "Excessive obligations in relation to income",
    "score": "Other, specify: credit score",
}


@pytest.fixture(scope="module")
def case(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("decision-report") / "a.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    probe = auditor.generate(**CREDIT, decision={"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"})
    chosen = probe.decision.chosen
    other = "APPROVE" if chosen == "DECLINE" else "DECLINE"
    adverse = auditor.generate(**CREDIT, decision={"labels": [other, chosen], "favourable": other, "reasons": REASONS})
    favourable = auditor.generate(**CREDIT, decision={"labels": [other, chosen], "favourable": chosen})
    news = auditor.generate(
        template="Summarise: {article}", variables={"article": "Rates rose."}, use_case="news-summary", max_new_tokens=3
    )
    auditor.explain(adverse.id, granularity="field", contrast=other)
    auditor.explain(adverse.id, method="gradient-x-input", granularity="token")
    auditor.attention(adverse.id)
    auditor.explain(favourable.id, method="integrated-gradients", granularity="field", n_steps=2)
    auditor.explain(news.id, granularity="field")
    with AuditStore.open(db) as store:
        evidence = {r.id: gather(store, r) for r in (adverse, favourable, news)}
    return auditor, adverse, favourable, news, evidence


def _text(html: str) -> str:
    import html as entities

    return entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _dossier(evidence) -> str:
    return render_dossiers([build_dossier(evidence, AT, OK)], AT)


def test_adverse_decision_leads_section_2_and_gives_notice_reasons(case):
    _, adverse, _, _, evidence = case
    ev = evidence[adverse.id]
    d = adverse.decision
    assert ev.decision_attribution.target.contrast == d.favourable and ev.field_attribution is None
    html = _dossier(ev)
    text = _text(html)
    section2 = text[text.index("2 Decision") : text.index("3 Why")]
    assert section2.index(f"{d.chosen}: probability {d.probabilities[d.chosen]:.2f} against") < section2.index(
        "Application fields"
    )
    assert f"Adverse to the applicant: the favourable outcome is {d.favourable}." in section2
    assert f"Margin: {d.margin:.2f} log-odds over {d.runner_up}." in section2
    assert "Mode free" in section2 and (
        "The text does NOT state a decision" in section2 or "The text states" in section2
    )
    section3 = text[text.index("3 Why") : text.index("4 What would have changed")]
    assert (
        "Why: principal reasons for the decision" in section3 and "Principal reasons for the adverse action" in section3
    )
    result = ev.decision_attribution
    expected = toward_decision(result.seq_attr)
    assert expected, "the tiny model's credit case has no field toward the decision: the test needs one"
    score = result.target.score
    for j in expected:
        name = result.features[j]
        words = field_words(name)
        value = adverse.variables[name]
        v = float(result.seq_attr[j])
        share = (
            f"{v:.2f} of the {score:.2f} log-odds margin."
            if v <= score
            else (f"{v:.2f} log-odds, more than the whole {score:.2f} log-odds margin (see Completeness).")
        )
        sentence = (
            f"{words[:1].upper()}{words[1:]} ({value}) weighed toward {d.chosen} rather than {d.favourable}: {share}"
        )
        assert sentence in section3
        assert f"Reason on the notice: “{REASONS[name]}”" in section3
    assert "As an adverse-action notice would state them" in section3
    assert "Completeness. The field attributions add up to" in section3
    complete = result.completeness
    assert f"{complete['gap']:+.3f}" in section3
    assert "Input text coloured by attribution to the decision" in section3 and "toward the decision" in section3
    assert "Influence on the recorded text" not in section3  # no explanation of the text was computed
    section5 = text[text.index("5 Attention") : text.index("6 Method")]
    assert "The first input token is left out: it held on average" in section5 and "← decision" in section5
    assert "renormalised to sum to 1" in section5


def test_favourable_decision_says_no_reasons_are_required_and_shows_a_bad_integral(case):
    _, _, favourable, _, evidence = case
    text = _text(_dossier(evidence[favourable.id]))
    section3 = text[text.index("3 Why") : text.index("4 What would have changed")]
    d = favourable.decision
    assert "No adverse-action reasons are required" in section3
    assert f"The decision, {d.chosen}, is the favourable outcome, so no adverse-action notice is due." in section3
    assert "Principal reasons for the adverse action" not in section3 and "Reason on the notice" not in section3
    assert all(field_words(f) in section3 for f in ("income", "debt", "score"))  # the attributions still shown
    ig = evidence[favourable.id].decision_attribution
    assert ig.method == "integrated-gradients" and abs(ig.completeness["gap"]) > 0.05 * abs(
        ig.completeness["score_change"]
    )
    assert "They do NOT add up to the score they explain" in section3 and "(2 steps)" in section3


def test_record_without_decision_keeps_the_text_wording(case):
    _, _, _, news, evidence = case
    text = _text(_dossier(evidence[news.id]))
    section3 = text[text.index("3 Why") : text.index("4 What would have changed")]
    assert "Why: influence on the text" in section3 and "Fields that most influenced the text" in section3
    assert "principal reasons" not in section3.lower() and "likelihood of the recorded text" in section3
    assert "Decision, scored from" not in text


def test_summary_counts_decisions_per_use_case_and_never_mixes_reasons(case):
    _, adverse, favourable, news, evidence = case
    summary = build_summary([evidence[r.id] for r in (adverse, favourable, news)], AT, OK, [])
    credit, summaries = summary.use_cases
    assert (credit.use_case, credit.decided, credit.adverse, credit.adverse_explained) == ("credit-decision", 2, 1, 1)
    assert credit.favourable_rate == "50%" and sum(n for _, n, _ in credit.counts) == 2
    assert credit.margin_chart is not None and not credit.margin_chart.empty
    result = evidence[adverse.id].decision_attribution
    assert [row[0] for row in credit.reasons] == [
        field_words(result.features[j]) for j in toward_decision(result.seq_attr)
    ]
    assert {row[3] for row in credit.reasons} <= set(REASONS.values())
    assert summaries.use_case == "news-summary" and summaries.decided == 0 and summaries.reasons == []
    assert {row[0] for row in summaries.influences} <= {"article"} and credit.influences == []
    expected = []
    for record in (adverse, favourable):
        d = record.decision
        if not d.agrees:
            expected.append(
                (
                    record.id,
                    f"text {'states ' + d.stated if d.stated else 'states no decision'}, but the scored decision is {d.chosen}",
                )
            )
        if d.margin < 0.5:
            expected.append(
                (record.id, f"small decision margin: {d.chosen} by {d.margin:.2f} log-odds over {d.runner_up}")
            )
    assert [(f.record_id, f.problem) for f in summary.flags] == expected
    page = _text(render_summary(summary))
    assert "Decisions and reasons, by use case" in page and "Principal reasons for adverse decisions" in page
    assert f"{adverse.decision.chosen} ({adverse.decision.probabilities[adverse.decision.chosen]:.2f})" in page


def test_cli_explains_the_decision_by_default_and_the_text_on_request(case, cli, tiny_model_dir):
    auditor, adverse, _, _, _ = case
    done = cli(
        "explain",
        adverse.id,
        "--granularity",
        "field",
        "--json",
        "--db",
        str(auditor.db_path),
        "--model",
        str(tiny_model_dir),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    d = adverse.decision
    assert data["target"]["kind"] == "decision" and (data["target"]["label"], data["target"]["contrast"]) == (
        d.chosen,
        d.runner_up,
    )
    assert data["output_tokens"] == [f"{d.chosen} − {d.runner_up}"] and len(data["token_attr"]) == 1
    assert data["target"]["score"] == pytest.approx(d.margin)
    text = auditor.explain(adverse.id, granularity="field", target="output")
    assert text.target.kind == "output" and len(text.output_tokens) == adverse.output_tokens
