"""Section 4 of the dossier and the summary's protected-attribute reliance, against the stored results.

One database on the planted model (tests/planted.py: it decides by the applicant's name and
ignores the age), so protected-attribute flips are real: a counterfactual of one decision, then a
run swapping names (with a group and a value carrying markup) and ages over the credit use case,
then an age-only run over every use case, then one record made after both. Every figure the
pages are checked for is formatted from the stored results, not copied from the template.
"""

from __future__ import annotations

import html as entities
import json
import re

import pytest

from audit import Auditor
from audit.counterfactual.result import CounterfactualResult
from audit.fairness.result import FairnessResult
from audit.model import load_model
from audit.report import IntegrityStatus, build_summary, gather, render_summary
from audit.store import AuditStore
from tests.planted import DECISION, DISFAVOURED, FAVOURED, TEMPLATE

pytestmark = pytest.mark.usefixtures("single_thread")
AT = "2026-03-04T12:00:00Z"
SPEC = {**DECISION, "protected": ["applicant_name", "age"]}
SCRIPT = "<script>alert(1)</script>"


def _text(html: str) -> str:
    return entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _pct(x: float) -> str:
    return f"{max(0.0, x):.1%}"


class Case:
    auditor: Auditor
    ids: dict[str, str]
    counterfactual: CounterfactualResult
    names_run: FairnessResult
    age_run: FairnessResult
    before_runs: dict[str, str]  # dossier and summary html rendered before any protected-attribute run


@pytest.fixture(scope="module")
def case(planted_dir, tmp_path_factory) -> Case:
    folder = tmp_path_factory.mktemp("planted-report")
    loaded = load_model(str(planted_dir), device="cpu")
    auditor = Auditor(db=folder / "a.db", model=loaded)

    def decide(name: str, age: str, score: str, use_case: str = "credit-decision") -> str:
        variables = {"applicant_name": name, "age": age, "credit_score": score}
        record = auditor.generate(
            template=TEMPLATE, variables=variables, max_new_tokens=2, use_case=use_case, decision=SPEC
        )
        return record.id

    c = Case()
    c.auditor = auditor
    c.ids = {
        "favoured": decide(FAVOURED[0], "34", "640"),
        "disfavoured": decide(DISFAVOURED[0], "51", "700"),
        "other": decide(FAVOURED[1], "29", "580", use_case="credit-review"),
        "plain": auditor.generate(prompt="Summarise: yields rose.", max_new_tokens=2, use_case="news-summary").id,
    }
    auditor.counterfactual(
        c.ids["favoured"], [f"applicant_name={FAVOURED[1]},{DISFAVOURED[1]}", "age=25,70"], pairs=True
    )
    with AuditStore.open(auditor.db_path) as store:
        c.counterfactual = store.counterfactuals.latest(c.ids["favoured"])  # as the dossier reads it
    c.before_runs = {
        "dossier": _report(auditor, folder / "before.html", [c.ids["favoured"]]),
        "summary": _report(auditor, folder / "before-summary.html", None, use_case="credit-decision"),
    }
    names = folder / "names.toml"
    names.write_text(
        'note = "illustrative names, not a validated instrument"\n[groups]\n'
        f"female = {json.dumps(FAVOURED)}\nmale = {json.dumps(DISFAVOURED)}\n" + f'"<i>odd</i>" = ["{SCRIPT}"]\n'
    )
    c.names_run = auditor.fairness([f"applicant_name=@{names}", "age=25,45,70"], use_case="credit-decision")
    c.age_run = auditor.fairness(["age=25,70"])  # every use case: the newest run, in which nothing flips
    c.ids["late"] = decide(DISFAVOURED[1], "40", "640")
    return c


def _report(auditor: Auditor, path, ids, **filters) -> str:
    auditor.report(ids, path, generated_at=AT, **filters)
    return path.read_text()


def _section(html: str, index: int = 0) -> str:
    start = html.index(f'id="d{index}-counterfactual"')
    return _text(html[start : html.index(f'id="d{index}-attention"')])


@pytest.fixture(scope="module")
def dossiers(case, tmp_path_factory) -> dict[str, str]:
    order = ["favoured", "disfavoured", "other", "plain", "late"]
    html = _report(case.auditor, tmp_path_factory.mktemp("dossiers") / "d.html", [case.ids[k] for k in order])
    return {"html": html, **{k: _section(html, i) for i, k in enumerate(order)}}


def test_the_planted_model_flips_on_the_name_and_not_on_the_age(case):
    """The premise of the other tests: real flips, computed, not assumed."""
    name = case.names_run.attribute("applicant_name")
    assert name.flipped == name.records == 2 and case.names_run.attribute("age").flipped == 0
    assert all(a.flipped == 0 for a in case.age_run.attributes)


def test_section_4_shows_the_stored_counterfactual(case, dossiers):
    result = case.counterfactual
    text = dossiers["favoured"]
    html = dossiers["html"]
    assert html.index('id="d0-why"') < html.index('id="d0-counterfactual"') < html.index('id="d0-attention"')
    assert "4 What would have changed the decision" in text and "5 Attention" in _text(html)
    recorded = result.recorded_chosen
    assert f"{recorded}, probability {result.recorded_probabilities[recorded]:.3f}" in text
    assert f"{len(result.alternatives)} alternatives tried; {len(result.flips)} flip" in text
    for a in result.alternatives:
        row = f"{' + '.join(a.changes.values())} {a.chosen} {a.probabilities[result.favourable]:.3f}"
        assert row + (" flips" if a.flips else " —") in text
    assert result.smallest_flip["applicant_name"] is not None and result.smallest_flip["age"] is None
    for name, index in result.smallest_flip.items():
        if index is None:
            assert f"no value tried changes the decision ({', '.join(result.fields[name])})" in text
        else:
            assert result.sentence(index) + "." in text
    assert f"{recorded} would have been DECLINE had the applicant name been {DISFAVOURED[1]}" in text
    pairs = [a for a in result.alternatives if len(a.changes) == 2]
    assert f"Pairs of two fields' values: {sum(a.flips for a in pairs)} of {len(pairs)} flip the decision." in text
    assert f"the recorded label log-probabilities within {result.logprob_max_diff:.1e}" in text
    assert f"Scored on {result.model['name']}, the recorded model" in text and result.id in text
    assert "not an account of what would have happened to the applicant" in text
    method = _text(html[html.index('id="d0-method"') : html.index('id="d0-reproducibility"')])
    assert f"max difference {result.logprob_max_diff:.2e}" in method
    cover = html[html.index('id="d0-cover"') : html.index('id="d0-decision"')]
    assert "<b>Counterfactual run</b>:" in cover and f"<b>Protected-attribute run {case.names_run.id}</b>:" in cover


def test_a_record_without_a_counterfactual_says_how_to_run_it(case, dossiers):
    rid = case.ids["disfavoured"]
    assert (
        f"No counterfactual has been computed for this record. Run: llm-audit counterfactual {rid} --vary "
        "FIELD=VALUES (this template's fields: applicant_name, age, credit_score)"
    ) in dossiers["disfavoured"]
    assert "apply to decisions: this record has no decision specified" in dossiers["plain"]
    assert "Protected-attribute reliance" not in dossiers["plain"]


def test_a_flipped_record_lists_its_flips_and_the_runs_rate(case, dossiers):
    run = case.names_run
    for key in ("favoured", "disfavoured"):
        text = dossiers[key]
        [(attribute, flip)] = run.flips_of(case.ids[key])
        assert attribute.field == "applicant_name"
        assert f"protected-attribute run {run.id} of {run.created_at[:19].replace('T', ' ')} UTC" in text
        assert f"Applicant name: recorded {flip.recorded}" in text
        for s in flip.substitutions:
            assert f"{s.value} {s.group} {s.chosen} {s.favourable_probability:.3f}" in text
        lo, hi = attribute.flip_interval
        rate = f"{attribute.flipped} of {attribute.records} records ({_pct(attribute.flip_rate)}; 95% interval "
        assert rate + f"{_pct(lo)} to {_pct(hi)})" in text
        assert "whose note says: “illustrative names, not a validated instrument”" in text
        # the newest run is the age-only one over every use case: it scored the record, nothing flipped
        assert f"In the newest protected-attribute run, run {case.age_run.id}" in text
        assert "this record was scored and its decision did not flip under any value substituted" in text
        # every run that selected the record, newest first, with what it substituted and its reference check
        listing = text[text.index("Every protected-attribute run that selected this record, newest first") :]
        age_at, names_at = (r.created_at[:19].replace("T", " ") for r in (case.age_run, case.names_run))
        assert f"{age_at} {case.age_run.id} age scored, no flip pass: recorded prompts re-scored within" in listing
        assert f"{names_at} {run.id} applicant name, age this decision flipped pass:" in listing
        assert listing.index(case.age_run.id) < listing.index(run.id)


def test_records_that_did_not_flip_say_so_in_one_line(case, dossiers):
    newest = f"in the newest, run {case.age_run.id}"
    assert (
        f"2 protected-attribute runs are stored and in none did this record's decision flip; {newest}"
        in (dossiers["other"])
    )
    assert "this record was scored and its decision did not flip" in dossiers["other"]
    assert "this record was not among the records it scored (the record was made after it ran)" in dossiers["late"]
    before = _section(case.before_runs["dossier"])
    assert (
        "No protected-attribute check has been run on this database. Run: llm-audit fairness --use-case "
        "credit-decision --swap applicant_name=VALUES --swap age=VALUES"
    ) in before


def test_summary_shows_the_reliance_section_from_the_stored_runs(case, tmp_path):
    html = _report(case.auditor, tmp_path / "summary.html", None)
    start = html.index('id="reliance"')
    part = html[start : html.index("</section>", start)]
    text = _text(part)
    assert "3 Protected-attribute reliance" in text and "4 Outputs" in _text(html) and "6 Dossiers" in _text(html)
    shown = [case.names_run, case.age_run]  # the newest of credit-decision, and the one over all use cases
    for run in shown:
        assert f"run {run.id} of {run.created_at[:19].replace('T', ' ')} UTC" in text
        assert f"{run.records} records scored, {len(run.skipped)} skipped" in text
        for warning in run.warnings:
            assert warning in text
    for a in case.names_run.attributes:
        lo, hi = a.flip_interval
        p = a.test["p_value"]
        gap = f"{a.gap * 100:.1f} points {a.gap_groups[0]} over {a.gap_groups[1]}" if a.gap > 0 else "none —"
        assert f"{a.records} {a.flipped} {_pct(a.flip_rate)} {_pct(lo)} to {_pct(hi)} {gap} {p:.3f}" in text
        for g in a.groups:
            assert f"{_pct(g.favourable_rate)} {g.mean_favourable_probability:.3f}" in text
        for f in a.flips:
            first = f.substitutions[0]
            assert f'<a href="dossier-{f.record_id}.html">{f.record_id}</a>' in part
            assert f"{f.recorded} {first.chosen} with {first.value} ({first.group})" in text
    assert "whose note says: “illustrative names, not a validated instrument”" in text
    assert "Values from age=25,70; the list carries no note on how it was chosen" in text
    # markup in a swap list is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part and "&lt;i&gt;odd&lt;/i&gt;" in part
    assert "<script" not in html and "<i>odd" not in html


def test_the_live_summary_links_flipped_records_to_their_pages(case):
    with AuditStore.open(case.auditor.db_path) as store:
        summary = build_summary(
            (gather(store, r, full=False) for r in store.records.iter(use_case="credit-decision")),
            AT,
            IntegrityStatus("unavailable", "not verified"),
            [],
            link="/records/{id}",
            live=True,
            fairness=store.fairness.iter(),
        )
    assert [run.run_id for run in summary.reliance.runs] == [case.names_run.id, case.age_run.id]
    page = render_summary(summary)
    for f in case.names_run.attribute("applicant_name").flips:
        assert f'<a href="/records/{f.record_id}">' in page


def test_a_summary_without_any_run_says_none_was_run(case):
    text = _text(case.before_runs["summary"])
    assert (
        "No protected-attribute check has been run on this database. Run: llm-audit fairness --use-case "
        "credit-decision --swap applicant_name=VALUES --swap age=VALUES"
    ) in text


def test_markup_in_a_swap_value_is_text_in_the_dossier(case, dossiers):
    html = dossiers["html"]
    assert "<script" not in html and "<i>odd" not in html
    flipped_by = [s for _, f in case.names_run.flips_of(case.ids["favoured"]) for s in f.substitutions]
    assert any(s.value == SCRIPT for s in flipped_by)  # the planted model declines an unknown name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</td><td>&lt;i&gt;odd&lt;/i&gt;</td>" in html
