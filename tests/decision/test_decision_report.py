"""Dossiers and summaries of decisions: the decision first, adverse-action reasons worded like a notice.

Records on the tiny model: one adverse credit decision explained against the favourable label (field
and token), the same application with the other label favourable, and a news summary without a
decision. The expected reasons are recomputed from the stored explanations, so the test checks the
page against the numbers, not against a copy of the template's wording alone.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from audit import Auditor
from audit.decision.mass import share_text
from audit.decision.reasons import toward_decision
from audit.report import IntegrityStatus, build_dossier, build_summary, gather, render_dossiers, render_summary
from audit.report.reasons import field_words
from audit.report.reasons_gate import reasons_gate
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
    # The label mass, against an independent sum of the recorded raw probabilities: the tiny random model
    # spreads its probability over the vocabulary, so the labels hold far less than the default minimum.
    mass = sum(math.exp(lp) for lp in d.label_logprobs.values())
    assert mass < 0.5
    assert section2.index(
        f"Not a decision the model made: the model put only {share_text(mass)} of its probability on the labels"
    ) < section2.index("Application fields")
    assert f"The labels together hold {share_text(mass)} of the model's probability" in section2
    assert f"Adverse to the applicant: the favourable outcome is {d.favourable}." in section2
    assert f"Margin: {d.margin:.2f} log-odds of {d.chosen} over the runner-up {d.runner_up}." in section2
    assert "Mode free" in section2 and (
        "The text does NOT state a decision" in section2 or "The text states" in section2
    )
    section3 = text[text.index("3 Why") : text.index("4 What would have changed")]
    # The tiny random model holds almost none of its probability on the labels, and its field figures do not
    # add up: the reasons gate gives no reasons and no notice wording, and says why with the figures.
    assert "Why: principal reasons for the decision" in section3
    assert "No faithful reasons can be given for the adverse outcome" in section3
    assert "Principal reasons for the adverse action" not in section3
    assert "Reason on the notice" not in section3 and "As an adverse-action notice would state them" not in section3
    assert "Unexplainable for an adverse-action notice. No faithful reasons could be given:" in section3
    assert "Unexplainable for an adverse-action notice." in section2
    assert f"The labels hold {share_text(mass)} of the model's probability (minimum 0.5): the decision is not one" in (
        section3
    )
    result = ev.decision_attribution
    complete = result.completeness
    change, attributed = complete["score_change"], complete["attributed"]
    assert (
        f"The field attributions add up to {attributed:+.3f}, against the {change:+.3f} change in the log-odds of "
        f"{d.chosen} over {d.favourable} they explain: a gap of {attributed - change:+.3f}"
    ) in section3
    deletion = result.deletion
    assert deletion["features"] == [result.features[j] for j in toward_decision(result.seq_attr)]
    if deletion["features"]:
        assert f"moves the log-odds of {d.chosen} over {d.favourable} by {deletion['observed']:+.3f}" in section3
    assert "Counterfactuals n/a No counterfactual run of this record" in section3
    # the figures are still shown, as figures, each naming its contrast
    for name in result.features:
        assert field_words(name) in section3
    assert "Completeness. The field attributions add up to" in section3
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
    assert "No adverse-action notice is required" in section3
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
    ev = evidence[adverse.id]
    result = ev.decision_attribution
    # Principal reasons are counted only where the dossier's reasons gate passes on the same evidence.
    faithful = reasons_gate(ev.record, result, ev.counterfactuals, ev.fairness_flips).passed
    assert credit.adverse_unfaithful == (0 if faithful else 1)
    toward = [result.features[j] for j in toward_decision(result.seq_attr)]
    shown = toward if faithful else [name for name in toward if name in ev.record.decision.protected]
    assert [row[0] for row in credit.reasons] == [field_words(name) for name in shown]
    assert {row[3] for row in credit.reasons} <= set(REASONS.values())
    assert summaries.use_case == "news-summary" and summaries.decided == 0 and summaries.reasons == []
    assert {row[0] for row in summaries.influences} <= {"article"} and credit.influences == []
    expected = []
    for record in (adverse, favourable):
        d = record.decision
        mass = sum(math.exp(lp) for lp in d.label_logprobs.values())
        if mass < 0.5:
            expected.append(
                (
                    record.id,
                    f"label mass {share_text(mass)}: the model put only {share_text(mass)} of its probability on the "
                    f"labels (minimum 0.5), so {d.chosen} is not a decision the model made",
                )
            )
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
    assert credit.low_mass == 2  # both credit records: the tiny random model puts almost nothing on the labels
    page = _text(render_summary(summary))
    assert "Not decisions the model made (the labels held less than the minimum share of its probability): 2." in page
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
