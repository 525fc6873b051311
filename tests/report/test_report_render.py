"""Rendered dossiers and summaries: content, escaping, determinism, the CLI and the log."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np
import pytest
import rfc8785

from audit import Auditor, UserError
from audit.report import (
    IntegrityStatus,
    build_dossier,
    build_summary,
    gather,
    render_dossiers,
    render_summary,
    sha256_html,
)
from audit.report.evidence import Evidence
from audit.report.reasons import text_influences
from audit.store import AuditStore
from audit.store.records import generation_payload
from tests.report_evidence import GENERATED_AT, replay

OK = IntegrityStatus("verified", "The audit log verified intact.")
SECTIONS = [
    "cover",
    "decision",
    "why",
    "counterfactual",
    "attention",
    "method",
    "reproducibility",
    "regulatory",
    "signoff",
]


def _dossier(evidence: Evidence, generated_at: str = GENERATED_AT, integrity: IntegrityStatus = OK) -> str:
    return render_dossiers([build_dossier(evidence, generated_at, integrity)], generated_at)


def test_full_dossier_has_every_section_in_order_with_computed_content(report_case):
    ev = report_case.evidence
    html = _dossier(ev)
    positions = [html.index(f'id="d0-{name}"') for name in SECTIONS]
    assert positions == sorted(positions)
    reasons = text_influences(ev.field_attribution.features, ev.field_attribution.seq_attr)
    assert 1 <= len(reasons) <= 4
    for reason in reasons:
        assert reason.sentence in html
    n_out, n_in = np.asarray(ev.token_attribution.token_attr).shape
    assert html.count('name="d0-tok"') == n_out + 1  # whole answer + one view per output token
    assert re.search(r'id="d0-tok-all" checked', html)
    assert (
        html.count('<rect class="c h-')
        == n_out * n_in
        + n_out * len(ev.field_attribution.features)
        + np.asarray(ev.attention.rollout)[:, 1:].size  # the rollout without its first input token (the sink)
        + ev.attention.layers * ev.attention.heads
    )
    assert html.count("<figcaption>Layer ") == ev.attention.layers
    assert report_case.credit.model.weights_sha256["model.safetensors"] in html
    assert "Replay reproduced the recorded output token for token." in html
    assert "Regulation B, 12 CFR 1002.9(b)(2)" in html and "SR 26-2" in html and "Art. 12(3)" in html
    assert "No attribution has been computed" not in html


def test_record_hash_is_sha256_of_the_canonical_generation_payload(report_case):
    expected = hashlib.sha256(rfc8785.dumps(generation_payload(report_case.credit))).hexdigest()
    html = _dossier(report_case.evidence)
    assert f'<p class="hash">{expected}</p>' in html


def test_record_content_renders_as_text_never_as_markup(report_case):
    html = _dossier(report_case.evidence)
    assert (
        "&lt;script&gt;document.documentElement.setAttribute(&#39;data-pwned&#39;,&#39;script&#39;)&lt;/script&gt;"
        in html
    )
    assert "&lt;img src=x onerror=&#34;document" in html
    assert "{{ 7*7 }}" in html
    assert "<script" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    # nothing that could reach a network: no external URL in any attribute
    assert not re.search(r'(src|href|action)="(?!#|data:)', html)
    assert "default-src 'none'" in html


def test_rendering_is_byte_identical_and_depends_on_generation_time(report_case):
    first = sha256_html(_dossier(report_case.evidence))
    second = sha256_html(_dossier(dataclasses.replace(report_case.evidence)))
    later = sha256_html(_dossier(report_case.evidence, "2026-03-05T12:00:00Z"))
    assert first == second != later


def test_a_record_without_evidence_says_so_plainly(report_case):
    html = _dossier(
        Evidence(report_case.plain),
        integrity=IntegrityStatus("unavailable", "Integrity verification is not available."),
    )
    rid = report_case.plain.id
    assert "This record has no template fields" in html
    assert f"No attribution has been computed for this record. Run: llm-audit explain {rid}" in html
    assert f"No attention analysis has been computed for this record. Run: llm-audit attention {rid}" in html
    assert f"This record has not been replayed. Run: llm-audit replay {rid}" in html
    assert "Audit log integrity: unavailable" in html
    assert "&lt;b&gt;today&lt;/b&gt;" in html


def test_diverged_replay_is_shown_and_flagged_in_the_summary(report_case):
    diverged = dataclasses.replace(report_case.evidence, replay=replay(report_case.credit, "diverged"))
    html = _dossier(diverged)
    assert (
        "Replay produced a DIFFERENT output." in html and "step 3: recorded &#39;A&#39;, replayed &#39;B&#39;" in html
    )
    summary = build_summary([diverged, Evidence(report_case.plain)], GENERATED_AT, OK, [("Use case", "all")])
    assert [(f.record_id, f.problem) for f in summary.flags] == [(report_case.credit.id, "replay diverged at step 3")]
    assert summary.verdicts == [("diverged", 1)]
    page = render_summary(summary)
    assert f'href="dossier-{report_case.credit.id}.html"' in page and "replay diverged at step 3" in page


def test_summary_counts_reasons_and_caps_the_listing(report_case):
    ev = report_case.evidence
    many = [
        dataclasses.replace(
            ev,
            record=dataclasses.replace(
                ev.record, id=f"rec-{i:04d}", started_at=f"2026-0{1 + i % 3}-1{i % 10}T09:00:00.000000Z"
            ),
        )
        for i in range(120)
    ]
    summary = build_summary(many, GENERATED_AT, OK, [], max_listed=50)
    assert summary.total == 120 and len(summary.index) == 50 and summary.unlisted == 70
    assert summary.period_kind == "day" and sum(summary.period_totals) == 120
    reasons = text_influences(ev.field_attribution.features, ev.field_attribution.seq_attr)
    (credit,) = summary.use_cases  # one use case: its text influences, counted within it
    assert {row[:3] for row in credit.influences} == {(r.name, r.direction, 120) for r in reasons}
    assert "70 further records are not listed" in render_summary(summary)


def test_cli_dossier_is_reproducible_and_logged(report_case, cli, tmp_path):
    out = tmp_path / "dossier.html"
    args = [
        "report",
        report_case.credit.id,
        "-o",
        str(out),
        "--db",
        str(report_case.db),
        "--generated-at",
        GENERATED_AT,
        "--json",
    ]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    body = out.read_bytes()
    assert data["sha256"] == hashlib.sha256(body).hexdigest() and data["kind"] == "dossier"
    again = Auditor(db=report_case.db).report(
        [report_case.credit.id], tmp_path / "again.html", generated_at=GENERATED_AT
    )
    assert (tmp_path / "again.html").read_bytes() == body and again.sha256 == data[
        "sha256"
    ]  # Python API == CLI, byte for byte
    with AuditStore.open(report_case.db) as store:
        events = [e for e in store.events.iter(kind="report") if e.subject_id == data["report_id"]]
        assert [e.payload["sha256"] for e in events] == [data["sha256"]]
        assert events[0].payload["record_ids"] == [report_case.credit.id]
        assert events[0].payload["generated_at"] == GENERATED_AT

        assert store.evidence["report"].payload(data["report_id"]) == events[0].payload
    assert "No attribution has been computed" in body.decode()  # the store has no attribution component yet


def test_cli_summary_over_a_use_case(report_case, cli, tmp_path):
    out = tmp_path / "summary.html"
    done = cli(
        "report",
        "--use-case",
        "credit-decision",
        "--since",
        "2020-01-01",
        "-o",
        str(out),
        "--db",
        str(report_case.db),
        "--dossiers",
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "Summary of recorded decisions" in html and f'href="dossier-{report_case.credit.id}.html"' in html
    assert report_case.plain.id not in html
    assert (tmp_path / f"dossier-{report_case.credit.id}.html").is_file()


def test_user_errors_change_nothing(report_case, cli, tmp_path):
    before = report_case.db.read_bytes()
    out = tmp_path / "x.html"
    done = cli("report", "no-such-record", "-o", str(out), "--db", str(report_case.db))
    assert (
        done.returncode == 2 and done.stderr.startswith("Error: no record with id") and "Traceback" not in done.stderr
    )
    auditor = Auditor(db=report_case.db)
    cases = [
        (dict(record_ids=[report_case.credit.id], output=out, generated_at="yesterday"), "not an ISO 8601"),
        (dict(record_ids=[report_case.credit.id], output=out, use_case="credit-decision"), "not both"),
        (dict(record_ids=[report_case.credit.id, report_case.credit.id], output=out), "named twice"),
        (dict(output=out, since="2999-01-01"), "no record matches"),
        (dict(record_ids=[report_case.credit.id], output=tmp_path / "missing" / "x.html"), "does not exist"),
    ]
    for kwargs, message in cases:
        with pytest.raises(UserError, match=message):
            auditor.report(**kwargs)
    assert report_case.db.read_bytes() == before and not out.exists()


def test_gather_tolerates_a_store_without_other_components(report_case):
    with AuditStore.open(report_case.db) as store:
        ev = gather(store, report_case.credit)
    assert (ev.field_attribution, ev.token_attribution, ev.attention, ev.replay, ev.reviews) == (
        None,
        None,
        None,
        None,
        [],
    )
