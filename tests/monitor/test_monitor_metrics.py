"""Decision metrics on ``/metrics``: counts and histograms of the decisions stored since the process started,
checked against counts made independently from the stored records, with bounded label values; the
recording server (a real decision request through it) and the workspace, each a real server on loopback."""

from __future__ import annotations

import random
import re

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from audit import Auditor
from audit.monitor.prometheus import MAX_LABELS, MAX_USE_CASES, DecisionMetrics
from audit.monitor.stats import MARGIN_EDGES
from audit.monitor.tally import label_mass
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.web.background import BackgroundServer
from tests import monitor_records as synth
from tests.serve.serving import TIMEOUT, serve


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (labels in any order), 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_counts_and_histograms_equal_the_records_stored_since_start(tmp_path):
    db = tmp_path / "m.db"
    synth.build(db, seed=1, n=50, before=0.6, after=0.6)  # 100 records before the process "starts"
    registry = CollectorRegistry()
    metrics = DecisionMetrics(db, registry)
    rng = random.Random(2)
    with AuditStore.open(db, write=True) as store:
        new = synth.write_period(store, synth.END, 120, rng, 0.3, mass=0.8)
    assert metrics.update() == 120 and metrics.update() == 0
    text = generate_latest(registry).decode()
    case = synth.USE_CASE
    for label in ("APPROVE", "DECLINE"):
        expected = sum(r.decision.chosen == label for r in new)
        assert _sample(text, "llm_audit_decisions_total", use_case=case, label=label) == expected
    margins = [r.decision.margin for r in new]
    assert _sample(text, "llm_audit_decision_margin_count", use_case=case) == len(new)
    assert _sample(text, "llm_audit_decision_margin_sum", use_case=case) == pytest.approx(sum(margins))
    edge = MARGIN_EDGES[3]
    assert _sample(text, "llm_audit_decision_margin_bucket", use_case=case, le=str(edge)) == sum(
        m <= edge for m in margins
    )
    masses = [label_mass(r.decision.label_logprobs) for r in new]
    assert _sample(text, "llm_audit_decision_label_mass_sum", use_case=case) == pytest.approx(sum(masses))


def test_label_values_are_bounded(tmp_path):
    db = tmp_path / "many.db"
    registry = CollectorRegistry()
    metrics = DecisionMetrics(db, registry)
    rng = random.Random(3)
    with AuditStore.open(db, write=True) as store:
        for i in range(MAX_LABELS + 3):  # one use case, 13 labels chosen
            d = synth.decision(0.5, 0.9, rng)
            d.chosen = f"LABEL-{i}"
            store.records.append(synth.record(synth.END, 50_000, d, rng))
        for i in range(MAX_USE_CASES + 5):  # 25 more use cases: 19 get their name, 6 are "other"
            rec = synth.record(synth.END, 50_000, synth.decision(0.5, 0.9, rng), rng)
            rec.use_case = f"case-{i:02d}"
            store.records.append(rec)
    metrics.update()
    text = generate_latest(registry).decode()
    cases = set(re.findall(r'llm_audit_decisions_total\{[^}]*use_case="([^"]+)"', text))
    assert len(cases) == MAX_USE_CASES + 1 and "other" in cases  # the 20 first seen, then "other"
    labels = set(re.findall(rf'llm_audit_decisions_total{{label="([^"]+)",use_case="{synth.USE_CASE}"', text))
    assert len(labels) == MAX_LABELS + 1 and "other" in labels
    other = sum(_sample(text, "llm_audit_decisions_total", use_case="other", label=x) for x in ("APPROVE", "DECLINE"))
    assert other == 6
    assert _sample(text, "llm_audit_decisions_total", use_case=synth.USE_CASE, label="other") == 3


@pytest.mark.usefixtures("single_thread")
def test_the_server_counts_a_decision_it_recorded(tiny_loaded, tmp_path):
    spec = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "mode": "constrained"}
    chat = [{"role": "user", "content": "Approve the loan?"}]
    with serve(tmp_path / "served.db", tiny_loaded, model_name="tiny") as server:
        body = {
            "model": "tiny",
            "messages": chat,
            "max_tokens": 4,
            "llm_audit": {"decision": spec, "use_case": "loans"},
        }
        answered = server.post("/v1/chat/completions", body)
        assert answered.status_code == 200, answered.text
        record = server.auditor.get(answered.json()["llm_audit"]["record_id"])
        text = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
    d = record.decision
    assert record.use_case == "loans"
    assert _sample(text, "llm_audit_decisions_total", use_case=record.use_case, label=d.chosen) == 1
    assert _sample(text, "llm_audit_decision_margin_sum", use_case=record.use_case) == pytest.approx(d.margin)


def test_the_workspace_serves_the_same_metrics(tmp_path):
    db = tmp_path / "ws.db"
    synth.build(db, seed=4, n=5, before=0.6, after=0.6)
    app = create_app(Auditor(db=db).reviews)
    with BackgroundServer(app) as server:
        with AuditStore.open(db, write=True) as store:
            new = synth.write_period(store, synth.END, 30, random.Random(5), 0.5)
        text = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
    approved = sum(r.decision.chosen == "APPROVE" for r in new)
    assert _sample(text, "llm_audit_decisions_total", use_case=synth.USE_CASE, label="APPROVE") == approved
    assert _sample(text, "llm_audit_decision_margin_count", use_case=synth.USE_CASE) == 30
