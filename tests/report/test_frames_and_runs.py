"""The regulatory frame chooses the wording; the dossier lists every counterfactual and protected-attribute run.

The covenant example (commercial real-estate, BREACH/NO_BREACH, a protected sponsor-nationality field)
is recorded on the tiny model and must render with the commercial frame: a counterparty, no
adverse-action notice and no Regulation B wording anywhere on the page. Two counterfactual runs of
one record must both be listed, newest first, each with its date, fields varied and reference check.
"""

from __future__ import annotations

import html as entities
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audit import Auditor
from audit.decision.spec import FRAMES
from audit.examples import load_case
from audit.report import IntegrityStatus, build_dossier, build_summary, gather, render_dossiers, render_summary
from audit.report.frames import FRAMES_FILE, _data, default_frame, frame_named
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")
REPO = Path(__file__).resolve().parents[2]
COVENANT = REPO / "examples" / "covenant_test.toml"
OK = IntegrityStatus("verified", "ok")


def _text(page: str) -> str:
    return entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def covenant(tiny_loaded, tmp_path_factory):
    case = load_case(COVENANT)
    auditor = Auditor(db=tmp_path_factory.mktemp("covenant") / "a.db", model=tiny_loaded)
    record = auditor.generate(**{**case.generate_kwargs(), "max_new_tokens": 6})
    d = record.decision
    auditor.explain(record.id, granularity="field", **({"contrast": d.favourable} if d.adverse else {}))
    first = auditor.counterfactual(record.id, {"LTV": ["60%", "64%"], "DSCR": ["1.30x"]})
    second = auditor.counterfactual(record.id, {"occupancy": ["95%"]})
    with AuditStore.open(auditor.db_path) as store:
        evidence = gather(store, store.records.get(record.id))
    return auditor, record, evidence, (first, second)


def test_every_frame_has_its_wording_in_the_one_data_file():
    data = _data()
    assert set(data["frames"]) == set(FRAMES)
    for name in FRAMES:
        frame = frame_named(name)
        assert frame.title and frame.subject and frame.reasons_title and frame.prohibited
    assert FRAMES_FILE.name == "frames.toml" and default_frame("credit-decision") == "consumer-credit"
    assert default_frame("covenant-test") == "commercial-credit" and default_frame("news-summary") == "none"


def test_the_covenant_example_renders_with_the_commercial_frame(covenant):
    _, record, evidence, _ = covenant
    assert record.decision.frame == "commercial-credit" and record.decision.labels == ["BREACH", "NO_BREACH"]
    page = render_dossiers([build_dossier(evidence, "2026-03-04T12:00:00Z", OK)], "x")
    text = _text(page)
    assert "Regulatory frame Commercial credit (commercial-credit; stated by the decision specification)" in text
    assert "Regulation B" not in text and "1002." not in text
    for word in ("adverse-action", "adverse action", "applicant", "Applicant"):
        found = [text[max(0, m.start() - 120) : m.end() + 40] for m in re.finditer(word, text)]
        assert found == [], word
    section2 = text[text.index("2 Decision") : text.index("3 Why")]
    d = record.decision
    assert (
        f"Adverse to the counterparty: the favourable outcome is {d.favourable}." in section2
        if d.adverse
        else "Favourable to the counterparty." in section2
    )
    assert "LTV" in text and "Ltv" not in text  # the template's spelling
    # the consumer-credit example keeps its Regulation B rows
    credit = replace(record, use_case="credit-decision", decision=replace(d, frame=None))
    consumer = _text(render_dossiers([build_dossier(replace(evidence, record=credit), "t", OK)], "x"))
    assert (
        "Regulation B" in consumer and "Consumer credit (ECOA, Regulation B) (consumer-credit; the default" in consumer
    )


def test_every_counterfactual_run_is_listed_newest_first(covenant):
    _, record, evidence, (first, second) = covenant
    assert [r.id for r in evidence.counterfactuals] == [second.id, first.id]
    text = _text(render_dossiers([build_dossier(evidence, "2026-03-04T12:00:00Z", OK)], "x"))
    section4 = text[text.index("4 What would have changed") : text.index("5 Attention")]
    listing = section4[section4.index("Every counterfactual run of this record, newest first") :]
    assert listing.index(second.id) < listing.index(first.id)
    assert f"{second.created_at[:19].replace('T', ' ')} {second.id} occupancy 1 tried" in listing
    assert f"{first.id} LTV, DSCR 3 tried, {len(first.flips)} flip" in listing
    assert "pass: recorded prompt re-scored within" in listing


def test_the_summary_marks_protected_fields_among_reasons(covenant):
    _, record, evidence, _ = covenant
    d = record.decision
    result = evidence.decision_attribution
    # the same explanation with the protected field weighing most toward the decision, as the issue saw it
    values = np.zeros(len(result.features), dtype=np.float32)
    values[result.features.index("sponsor_nationality")] = 1.0
    adverse = replace(record, decision=replace(d, chosen="BREACH", runner_up="NO_BREACH"))
    target = {**result.params["target"], "label": "BREACH", "contrast": "NO_BREACH"}
    leaning = replace(result, seq_attr=values, params={**result.params, "target": target})
    summary = build_summary([replace(evidence, record=adverse, decision_attribution=leaning)], "t", OK, [])
    (use_case,) = summary.use_cases
    assert [(row[0], row[4]) for row in use_case.reasons] == [("sponsor nationality", True)]
    page = _text(render_summary(summary))
    assert "sponsor nationality protected attribute: a prohibited basis, never a reason" in page
