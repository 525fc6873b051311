"""OpenTelemetry export, received by an in-process OTLP/HTTP receiver and decoded with opentelemetry-proto:
one span per record with GenAI attributes whose names the semantic-conventions package defines, the record
id and log position, replay verdicts and flip rates as gen_ai.evaluation.result events, content only when
asked; a refused batch counted as dropped (exit 1); and serve exporting from its own thread, where an
unreachable endpoint leaves completions and records untouched and counts the dropped spans in /metrics."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

from audit import Auditor
from audit.fairness.result import AttributeReport, FairnessResult
from audit.serve import server_app
from audit.store import AuditStore
from audit.web.background import BackgroundServer
from tests import monitor_records as synth
from tests.report_evidence import replay
from tests.serve.serving import TIMEOUT, Running, wait_for
from tests.telemetry.otlp_receiver import Receiver

GEN_AI = {getattr(gen_ai_attributes, n) for n in dir(gen_ai_attributes) if n.startswith("GEN_AI_")}
EXTRA = {"gen_ai.evaluation.name", "gen_ai.evaluation.score.value", "gen_ai.evaluation.score.label",
         "gen_ai.evaluation.explanation"}  # fmt: skip


@pytest.fixture(scope="module")
def exported_db(tmp_path_factory):
    """60 decided records, one replayed (decision changed), one fairness run."""
    db = tmp_path_factory.mktemp("otel") / "otel.db"
    _, current = synth.build(db, seed=5, n=30, before=0.6, after=0.6)
    with AuditStore.open(db, write=True) as store:
        store.replays.append(replay(current[0], "decision-changed"))
        run = FairnessResult(
            use_case=synth.USE_CASE, filters={}, swaps={"marital_status": {"a": ["single"], "b": ["married"]}},
            records=60, attributes=[AttributeReport("marital_status", "list", "", 60, 3, 0.05, [0.017, 0.137], [],
                                                   0.0, [], {})],
            skipped={}, warnings=[], logprob_max_diff=0.0, model={"name": "synthetic"}, seconds=1.5,
        )  # fmt: skip
        store.fairness.append(run)
    return db, current[0]


def test_a_batch_export_is_one_span_per_record_with_conventional_attributes(exported_db, cli):
    db, replayed = exported_db
    with Receiver() as receiver:
        run = cli("otel-export", "--db", str(db), "--since", "2026-11-01", "--otlp-endpoint", receiver.url, "--json")
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert outcome == {**outcome, "records": 60, "fairness_runs": 1, "sent": 61, "dropped": 0}
    spans = {s["attributes"].get("llm_audit.record.id"): s for s in receiver.spans}
    assert receiver.resources[0]["service.name"] == "llm-audit"
    with AuditStore.open(db) as store:
        for record in store.records.iter():
            span = spans[record.id]
            a = span["attributes"]
            assert span["name"] == "text_completion synthetic" and span["trace_id"] == record.id.replace("-", "")
            assert a["gen_ai.operation.name"] == "text_completion" and a["gen_ai.request.model"] == "synthetic"
            assert a["gen_ai.usage.input_tokens"] == len(record.input_ids)
            assert a["gen_ai.usage.output_tokens"] == len(record.output_ids)
            assert a["gen_ai.response.id"] == record.id and a["gen_ai.response.finish_reasons"] == ["stop"]
            assert a["gen_ai.request.max_tokens"] == 1 and a["gen_ai.request.seed"] == 0
            assert a["llm_audit.log.seq"] == store.events.logged("generation", record.id).seq
            assert a["llm_audit.decision.chosen"] == record.decision.chosen
            assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a  # content: off by default
            assert {k for k in a if k.startswith("gen_ai.")} <= GEN_AI
            assert span["events"] == [] or record.id == replayed.id
    ((name, event),) = spans[replayed.id]["events"]
    assert name == "gen_ai.evaluation.result" and set(event) - {"gen_ai.response.id", "llm_audit.replay.id"} <= EXTRA
    assert (
        event["gen_ai.evaluation.score.label"] == "decision-changed" and event["gen_ai.evaluation.score.value"] == 0.0
    )
    (fairness,) = [s for s in receiver.spans if "llm_audit.fairness.id" in s["attributes"]]
    ((name, event),) = fairness["events"]
    assert event["gen_ai.evaluation.name"] == "llm_audit.flip_rate.marital_status"
    assert event["gen_ai.evaluation.score.value"] == 0.05 and event["gen_ai.evaluation.score.label"] == "flips"


def test_content_only_when_asked(exported_db, cli_fast):
    db, _ = exported_db
    with Receiver() as receiver:
        run = cli_fast("otel-export", "--db", str(db), "--since", "2026-11-08", "--otlp-endpoint", receiver.url,
                       "--content")  # fmt: skip
    assert run.returncode == 0, run.stderr
    with AuditStore.open(db) as store:
        for span in receiver.spans:
            if "llm_audit.record.id" not in span["attributes"]:
                continue
            record = store.records.get(span["attributes"]["llm_audit.record.id"])
            inputs = json.loads(span["attributes"]["gen_ai.input.messages"])
            outputs = json.loads(span["attributes"]["gen_ai.output.messages"])
            assert inputs[0]["parts"][0]["content"] == record.prompt
            assert outputs[0]["parts"][0]["content"] == record.output_text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_spans_the_endpoint_refuses_are_counted_dropped(exported_db, cli_fast):
    db, _ = exported_db
    with Receiver(status=400) as receiver:  # 400: not retried by the exporter
        run = cli_fast("otel-export", "--db", str(db), "--since", "2026-11-08", "--otlp-endpoint", receiver.url,
                       "--timeout", "2")  # fmt: skip
    assert run.returncode == 1 and "31 dropped" in run.stdout and receiver.requests == 1 and not run.stderr
    bad = cli_fast("otel-export", "--db", str(db), "--since", "2026-11-08", "--otlp-endpoint", "ftp://x")
    assert bad.returncode == 2 and "is not an http(s) URL" in bad.stderr


@pytest.mark.usefixtures("single_thread")
def test_serve_exports_each_new_record_from_its_own_thread(tiny_loaded, tmp_path):
    auditor = Auditor(db=tmp_path / "served.db", model=tiny_loaded)
    key = auditor.api_keys.add("app")
    chat = [{"role": "user", "content": "Approve the loan?"}]
    with Receiver() as receiver:
        app = server_app(auditor, model_name="tiny", otlp_endpoint=receiver.url)
        with BackgroundServer(app) as background:
            server = Running(background, None, auditor, key)
            answer = server.openai().chat.completions.create(model="tiny", messages=chat, max_tokens=3)
            record_id = answer.id
            wait_for(lambda: receiver.spans, what="the record's span")
            metrics = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
    (span,) = receiver.spans
    a = span["attributes"]
    record = auditor.list()[0]
    assert a["llm_audit.record.id"] == record.id and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens == answer.usage.completion_tokens
    assert record_id.endswith(record.id) or a["gen_ai.response.id"] == record.id
    assert "llm_audit_otel_spans_sent_total 1.0" in metrics


@pytest.mark.usefixtures("single_thread")
def test_an_unreachable_endpoint_never_fails_a_completion_and_counts_dropped_spans(tiny_loaded, tmp_path):
    auditor = Auditor(db=tmp_path / "served.db", model=tiny_loaded)
    key = auditor.api_keys.add("app")
    app = server_app(auditor, model_name="tiny", otlp_endpoint=f"http://127.0.0.1:{_closed_port()}")
    with BackgroundServer(app) as background:
        server = Running(background, None, auditor, key)
        for _ in range(2):
            answer = server.openai().chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
            )
            assert answer.choices[0].message.content is not None

        def dropped() -> float:
            text = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
            line = next(x for x in text.splitlines() if x.startswith("llm_audit_otel_spans_dropped_total"))
            return float(line.split()[-1])

        assert wait_for(lambda: dropped() >= 2, timeout=120, what="dropped spans counted")
    assert len(auditor.list()) == 2 and auditor.verify().ok


@pytest.mark.usefixtures("single_thread")
def test_the_proxy_exports_what_it_records(tiny_loaded, tmp_path):
    from audit.serve import proxy_app
    from tests.serve.serving import serve

    with serve(tmp_path / "upstream.db", tiny_loaded, "proxy", model_name="tiny") as upstream, Receiver() as receiver:
        auditor = Auditor(db=tmp_path / "proxied.db")
        key = auditor.api_keys.add("app")
        app = proxy_app(auditor, upstream.base_url, upstream_key=upstream.key, otlp_endpoint=receiver.url)
        with BackgroundServer(app) as background:
            client = Running(background, None, auditor, key).openai()
            client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
            wait_for(lambda: receiver.spans, what="the proxied record's span")
    (span,) = receiver.spans
    (record,) = auditor.list()
    a = span["attributes"]
    assert a["llm_audit.record.id"] == record.id and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens and "gen_ai.input.messages" not in a
