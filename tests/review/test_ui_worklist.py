"""The workspace as a place to work: the record page's first response, no command lines on any page, the
worklist's columns and assignments, the CSV and dossier downloads (each logged), and the jobs (one job
for identical requests, failed in the log when the workspace stopped, a clean stop on SIGINT).

One server per module over tiny-model records with decisions; jobs that must stay queued or running
while the test looks at them run through a runner the test holds (released in ``finally``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from audit import Auditor
from audit.decision.mass import share_text
from audit.integrity.record_check import check_record
from audit.integrity.trust import resolve_pins
from audit.integrity.verify import verify_database
from audit.report.pdf import find_browser
from audit.review.roles import ROLES, Principal
from audit.review.service import Reviews
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.ui.views import PARTS
from audit.web.background import BackgroundServer, free_port
from tests.conftest import REPO, one_torch_thread
from tests.forge import backup, shell

PASSWORD = "correct horse battery"
CLI = Principal("root", "admin", "cli")
USERS = {"vera": "viewer", "rita": "reviewer", "dana": "reviewer", "val": "validator", "ada": "admin"}
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "reasons": {"score": "Credit score"}}
TEMPLATE = "Income {income}, score {score}, note {note}. Approve?"
FIRST_SCREEN_LIMIT = 150_000
# What a terminal user is told to type; a web page offers a button or says it plainly instead.
COMMAND = re.compile(
    r"Run: llm-audit|`llm-audit|<code>llm-audit|\(llm-audit [a-z]|llm-audit (?:explain|replay|checkpoint|verify|attention|counterfactual|fairness|trust|users|review) "
)


def login(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    done = client.post("/login", data={"csrf": token, "name": name, "password": PASSWORD, "next": "/queue"})
    assert done.status_code == 303, done.text
    return client, client.get("/api/me").json()["csrf"]


@pytest.fixture(scope="module")
def site(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-worklist")
    db = folder / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops", key_store=folder / "keys.json")
    ids = []
    with one_torch_thread():
        for income, score, note in (("42000", "580", "=HYPERLINK(1)"), ("61000", "700", "-"), ("18000", "420", "x")):
            record = auditor.generate(
                template=TEMPLATE,
                variables={"income": income, "score": score, "note": note},
                max_new_tokens=3,
                use_case="credit-decision",
                decision=DECISION,
            )
            ids.append(record.id)
        auditor.explain(ids[0], "feature-ablation", "field")
        auditor.explain(ids[0], "feature-ablation", "token")
        auditor.attention(ids[0], heads=True)
        ids.append(auditor.generate(prompt="Summarise: rates rose.", max_new_tokens=3, use_case="news").id)
    for name, role in USERS.items():
        auditor.reviews.accounts.add(CLI, name, role, PASSWORD)
    with BackgroundServer(create_app(auditor.reviews)) as server:
        yield SimpleNamespace(url=server.url, db=db, ids=ids, auditor=auditor, folder=folder)


def test_the_record_page_leads_with_the_decision_in_under_150_kb_and_loads_heavy_parts_on_demand(site):
    client, _ = login(site.url, "val")
    rid = site.ids[0]
    page = client.get(f"/records/{rid}")
    assert page.status_code == 200 and len(page.content) < FIRST_SCREEN_LIMIT, len(page.content)
    html = page.text
    order = [html.index(f'id="{part}"') for part in ("decision", "fields", "reasons", "whatif", "integrity", "signoff")]
    assert order == sorted(order)  # decision, application, reasons, what would change it, integrity, then sign-off
    assert html.count("match their table rows") == 1  # the integrity sentence once
    assert 'class="thumbs' not in html and "Generation parameters" not in html and "<script" not in html
    with AuditStore.open(site.db) as store:
        decision = store.records.get(rid).decision
    mass = sum(math.exp(lp) for lp in decision.label_logprobs.values())
    assert share_text(mass) in html and decision.chosen in html
    full = 0
    for name, _ in PARTS:
        assert f'href="/records/{rid}/part/{name}"' in html
        part = client.get(f"/records/{rid}/part/{name}")
        assert part.status_code == 200 and f'id="d0-{name}"' in part.text
        full += len(part.content)
    attention = client.get(f"/records/{rid}/part/attention").text
    assert 'class="thumbs' in attention  # the heavy parts exist, one request away
    assert "Generation parameters" in client.get(f"/records/{rid}/part/reproducibility").text
    assert full > len(page.content)
    assert client.get(f"/records/{rid}/part/nothing").status_code == 404


def test_no_page_tells_a_web_user_to_run_a_command(site):
    """Every page each role reaches (lists, every record, every dossier part, summary, users, an error)."""
    for name in ("vera", "rita", "val", "ada"):
        client, _ = login(site.url, name)
        paths = [
            "/queue",
            "/records",
            "/summary?since=",
            "/queue?page=7",
            f"/records/{'0' * 8}-0000-7000-8000-{'0' * 12}",
        ]
        paths += ["/users", "/trends"]  # the users page for the admin, the refusal page (403) for the others
        for rid in site.ids:
            paths += [f"/records/{rid}"] + [f"/records/{rid}/part/{part}" for part, _ in PARTS]
        for path in paths:
            text = client.get(path).text
            found = COMMAND.search(text)
            assert found is None, (name, path, text[max(0, found.start() - 200) : found.end() + 80])


def test_the_worklist_columns_state_what_the_records_hold(site):
    client, _ = login(site.url, "vera")
    listed = {r["record_id"]: r for r in client.get("/api/queue").json()["records"]}
    page = client.get("/queue").text
    with AuditStore.open(site.db) as store:
        for rid in site.ids:
            record = store.records.get(rid)
            row = listed.get(rid)
            assert row is not None
            if record.decision is None:
                assert row["decision"] is None and row["label_mass"] is None
                continue
            mass = sum(math.exp(lp) for lp in record.decision.label_logprobs.values())
            assert row["decision"] == record.decision.chosen and math.isclose(row["label_mass"], mass, rel_tol=1e-12)
            assert [tuple(f) for f in row["key_fields"]] == list(record.variables.items())[:3]
            assert share_text(mass) in page
    for heading in ("Age", "Decision", "Label mass", "Key fields", "Assigned"):
        assert f"<th>{heading}</th>" in page or f'<th class="n">{heading}</th>' in page


def test_a_reviewer_takes_a_record_a_validator_assigns_one_and_mine_lists_them(site):
    rita, rita_csrf = login(site.url, "rita")
    val, val_csrf = login(site.url, "val")
    first, second = site.ids[1], site.ids[2]
    with AuditStore.open(site.db) as store:
        before = store.events.count()
    refused = rita.post(f"/records/{first}/assign", data={"csrf": rita_csrf, "assignee": "dana"})
    assert refused.status_code == 403 and "validator" in refused.text
    unknown = val.post(f"/records/{first}/assign", data={"csrf": val_csrf, "assignee": "vera"})
    assert unknown.status_code == 400 and "may sign off" in unknown.text  # a viewer cannot be given a record
    with AuditStore.open(site.db) as store:
        assert store.events.count() == before  # nothing stored on a refusal
    taken = rita.post(f"/records/{first}/assign", data={"csrf": rita_csrf, "assignee": "rita"})
    assert taken.status_code == 303 and taken.headers["location"] == f"/records/{first}?done=assigned"
    given = val.post(f"/records/{second}/assign", data={"csrf": val_csrf, "assignee": "dana"})
    assert given.status_code == 303
    assert [r["record_id"] for r in rita.get("/api/queue?mine=1").json()["records"]] == [first]
    page = rita.get("/queue?mine=1").text
    assert f"/records/{first}?mine=1" in page and second not in page
    listed = rita.get("/api/records?mine=1").json()
    assert [r["record_id"] for r in listed["records"]] == [first] and listed["records"][0]["assignee"] == "rita"
    with AuditStore.open(site.db) as store:
        assignments = store.assignments.of_record(first)
        logged = [e.kind for e in store.events.iter(subject_id=assignments[-1].id)]
    assert [(a.assignee, a.assigned_by, a.role) for a in assignments] == [("rita", "rita", "reviewer")]
    assert logged == ["assignment"]
    back = rita.post(f"/records/{first}/assign", data={"csrf": rita_csrf, "assignee": ""})
    assert back.status_code == 303 and rita.get("/api/records?mine=1").json()["total"] == 0
    report = verify_database(site.db, resolve_pins(site.db, []))
    assert report.rows > 0 and report.problems == []  # assignments are evidence verify checks both ways


def test_the_csv_is_the_list_and_each_download_is_logged(site):
    client, _ = login(site.url, "vera")
    for page_path, csv_path, subject in (
        ("/api/queue", "/queue.csv", "list:queue"),
        ("/api/records?use_case=credit-decision", "/records.csv?use_case=credit-decision", "list:records"),
    ):
        listed = client.get(page_path).json()["records"]
        got = client.get(csv_path)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert got.headers["content-disposition"].startswith("attachment;")
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert [r["record_id"] for r in rows] == [r["record_id"] for r in listed]
        for row, item in zip(rows, listed):
            assert row["decision"] == (item["decision"] or "")
            assert row["label_mass"] == ("" if item["label_mass"] is None else f"{item['label_mass']:.4f}")
            assert row["review_state"] == item["review_state"] and row["use_case"] == item["use_case"]
            fields = "; ".join(f"{k}={v}" for k, v in item["key_fields"])
            assert row["key_fields"] == (("'" + fields) if fields[:1] in "=+-@" and fields else fields)
        with AuditStore.open(site.db) as store:
            logged = store.access.downloads(subject)[-1]
        assert logged["user"] == "vera" and logged["rows"] == len(rows) and logged["format"] == "csv"
        assert logged["bytes"] == len(got.content)
    note = [r for r in csv.DictReader(io.StringIO(client.get("/records.csv").text)) if "HYPERLINK" in r["key_fields"]]
    assert note and all(not r["key_fields"].startswith("=") for r in note)  # no formula reaches a spreadsheet


@pytest.mark.skipif(find_browser() is None, reason="Chromium is not installed")
def test_the_dossier_downloads_as_pdf_through_chromium_and_is_logged(site):
    client, _ = login(site.url, "vera")
    got = client.get(f"/records/{site.ids[0]}/dossier.pdf")
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    with AuditStore.open(site.db) as store:
        logged = store.access.downloads(site.ids[0])[-1]
    assert (logged["user"], logged["format"], logged["bytes"]) == ("vera", "pdf", len(got.content))


class HeldRunner:
    """An Auditor stand-in whose explanations wait until the test lets them finish."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.calls: list[str] = []

    def explain(self, record_id: str, method: str, granularity: str):
        self.calls.append(record_id)
        self.go.wait(60)
        return SimpleNamespace(id=f"result-{len(self.calls)}", method=method, granularity=granularity, seconds=0.0)


def held_reviews(db: Path) -> tuple[Reviews, HeldRunner]:
    runner = HeldRunner()
    auditor = Auditor(db=db, operator="ops")
    return Reviews(db, auditor.privacy, auditor.policy, runner), runner


def test_identical_jobs_are_one_job_and_a_restart_logs_the_unfinished_ones_failed(site):
    reviews, runner = held_reviews(site.db)
    val = reviews.session_user("val")
    try:
        first = reviews.request_job(val, site.ids[1], "explain", {"granularity": "field"})
        same = reviews.request_job(val, site.ids[1], "explain", {"granularity": "field", "method": "feature-ablation"})
        other = reviews.request_job(val, site.ids[2], "explain", {"granularity": "field"})
        by_token = reviews.request_job(val, site.ids[1], "explain", {"granularity": "token"})
        assert same.id == first.id and other.id != first.id and by_token.id != first.id
        with AuditStore.open(site.db) as store:
            requested = [e.subject_id for e in store.events.iter(kind="job-requested")]
        assert requested.count(first.id) == 1 and other.id in requested
        # The server dies here (no close): a new workspace over the same log finds both unfinished.
        restarted, _ = held_reviews(site.db)
        recovered = restarted.recover_jobs()
        assert {j.id for j in recovered} >= {first.id, other.id}
        assert all(j.state == "failed" and "stopped" in j.error for j in recovered)
        assert restarted.job(val, first.id).state == "failed"  # shown so on the record page
        with AuditStore.open(site.db) as store:
            finished = {e.subject_id: e.payload for e in store.events.iter(kind="job-finished")}
        assert finished[first.id]["state"] == finished[other.id]["state"] == "failed"
        assert restarted.recover_jobs() == []  # logged once
    finally:
        runner.go.set()
        reviews.close(60)


def test_stopping_logs_the_queued_jobs_failed_and_lets_the_running_one_finish(site):
    reviews, runner = held_reviews(site.db)
    val = reviews.session_user("val")
    running = reviews.request_job(val, site.ids[1], "explain", {"granularity": "token"})
    queued = reviews.request_job(val, site.ids[2], "explain", {"granularity": "token"})
    deadline = time.monotonic() + 30
    while reviews.job(val, running.id).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stopper = threading.Thread(target=reviews.close)
    stopper.start()
    stopper.join(0.5)
    assert stopper.is_alive()  # waiting for the running job, not abandoning it inside the model
    assert not reviews.jobs._worker.daemon
    runner.go.set()
    stopper.join(60)
    assert not stopper.is_alive()
    assert reviews.job(val, running.id).state == "done" and reviews.job(val, queued.id).state == "failed"
    with AuditStore.open(site.db) as store:
        finished = {e.subject_id: e.payload["state"] for e in store.events.iter(kind="job-finished")}
    assert finished[running.id] == "done" and finished[queued.id] == "failed"
    assert runner.calls == [site.ids[1]]


SERVE = """
import sys, time
from pathlib import Path
from types import SimpleNamespace
import torch
from audit import Auditor
from audit.review.service import Reviews
from audit.ui.app import create_app
from audit.web.background import run

class Busy:
    def explain(self, record_id, method, granularity):
        started = time.monotonic()
        a = torch.randn(256, 256)
        while time.monotonic() - started < 3:  # inside torch when the signal comes
            a = torch.tanh(a @ a)
        return SimpleNamespace(id="busy", method=method, granularity=granularity, seconds=3.0)

db = Path(sys.argv[1])
auditor = Auditor(db=db, operator="ops")
reviews = Reviews(db, auditor.privacy, auditor.policy, Busy())
print("ready", flush=True)
run(create_app(reviews), port=int(sys.argv[2]), log_level="warning")
"""


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_job_stops_the_workspace_cleanly(site, sent, tmp_path):
    token = site.auditor.reviews.local_admin("root").issue_token("val")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # the same keys and trust file
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(site.db), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/api/me")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.1)
        requested = client.post(f"/api/records/{site.ids[3]}/jobs", json={"kind": "explain"})
        assert requested.status_code == 202, requested.text
        job = requested.json()
        while client.get(f"/api/jobs/{job['id']}").json()["state"] != "running":
            time.sleep(0.05)
        server.send_signal(sent)
        out, err = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    # Ctrl-C ends with 0; SIGTERM, re-raised by uvicorn once its shutdown is done, ends by that signal.
    assert server.returncode == (0 if sent == signal.SIGINT else -sent), err
    assert "terminate called" not in err and "Traceback" not in err, err
    with AuditStore.open(site.db) as store:
        finished = [e.payload for e in store.events.iter(subject_id=job["id"], kind="job-finished")]
    assert [f["state"] for f in finished] == ["done"]


def test_every_role_gets_a_download_or_a_refusal_it_is_allowed(site):
    """Downloads need only the read permission: every role gets them; no session, a 401 or the login page."""
    anonymous = httpx.Client(base_url=site.url, timeout=30)
    assert anonymous.get("/records.csv", follow_redirects=False).status_code == 303
    for name, role in USERS.items():
        assert role in ROLES
        client, _ = login(site.url, name)
        assert client.get(f"/records/{site.ids[3]}/dossier.html").status_code == 200
        assert client.get("/queue.csv").status_code == 200
    bad = client.get(f"/records/{site.ids[3]}/dossier.docx")
    assert bad.status_code == 404


def test_after_a_sign_off_the_reviewer_is_taken_to_the_next_unsigned_record_of_the_same_queue(site):
    dana, csrf = login(site.url, "dana")
    queue = [r for r in dana.get("/api/queue?reason=unreviewed").json()["records"] if r["review_state"] == "unreviewed"]
    assert len(queue) >= 2
    first, following = queue[0]["record_id"], queue[1]["record_id"]
    signed = dana.post(
        f"/records/{first}/reviews",
        data={"csrf": csrf, "action": "accept", "queue_reason": "unreviewed"},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == f"/records/{following}?done=signed-off-next&reason=unreviewed"
    assert "This is the next unsigned record" in dana.get(signed.headers["location"]).text
    assigned = [
        r["record_id"] for r in dana.get("/api/queue?mine=1").json()["records"] if r["review_state"] == "unreviewed"
    ]
    current = following
    for expected in [r for r in assigned if r != following] + [None]:  # the records given to dana, in queue order
        mine = dana.post(f"/records/{current}/reviews", data={"csrf": csrf, "action": "accept", "queue_mine": "1"})
        if expected is None:
            assert mine.headers["location"] == f"/records/{current}?done=signed-off-last"
            assert "No other unsigned record" in dana.get(mine.headers["location"]).text
        else:
            assert mine.headers["location"] == f"/records/{expected}?done=signed-off-next&mine=1"
            current = expected


def test_a_validator_runs_a_counterfactual_from_the_page_and_a_bad_one_is_refused(site):
    val, csrf = login(site.url, "val")
    rid = site.ids[2]
    with AuditStore.open(site.db) as store:
        before = store.events.count()
    for vary, said in (("nofield=1", "nofield is not a field of this record"), ("", "name the alternatives")):
        refused = val.post(f"/records/{rid}/jobs", data={"csrf": csrf, "kind": "counterfactual", "vary": vary})
        assert refused.status_code == 400 and said in refused.text, refused.text
    with AuditStore.open(site.db) as store:
        assert store.events.count() == before
    assert "Try the alternatives" in val.get(f"/records/{rid}").text
    asked = val.post(
        f"/api/records/{rid}/jobs",
        json={"kind": "counterfactual", "vary": "score=700,800\nincome=$90,000"},
        headers={"X-CSRF-Token": csrf},
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["params"] == {"vary": {"score": ["700", "800"], "income": ["$90,000"]}}
    job = site.auditor.reviews.jobs.wait(asked.json()["id"], 120)
    assert job.state == "done", job.error
    with AuditStore.open(site.db) as store:
        stored = store.counterfactuals.get(job.result_id)
    assert stored.record_id == rid and [a.changes for a in stored.alternatives] == [
        {"score": "700"},
        {"score": "800"},
        {"income": "$90,000"},
    ]
    page = val.get(f"/records/{rid}").text
    assert "No counterfactual has been computed" not in page and "Try the alternatives" not in page
    assert "<b>Score</b>" in page and "<b>Income</b>" in page  # the smallest change per field, first screen


def test_a_program_that_never_closes_the_job_queue_still_exits():
    """The worker is not a daemon (a running job is never killed inside the model), so an idle one must
    notice the program ending on its own, or a script that forgot ``close()`` would hang forever."""
    script = (
        "from audit.review.jobs import JobQueue\n"
        "q = JobQueue({'x': lambda r, p, say: ('id', 'ok')}, lambda job: None)\n"
        "job = q.submit(q.new('x', 'r', {}, 'u', 'validator'))\n"
        "assert q.wait(job.id, 30).state == 'done' and not q._worker.daemon\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("what", ["edit", "delete", "edit-event"])
def test_tampering_with_an_assignment_fails_verify_and_the_record_page_says_so(site, tmp_path, what):
    reviews = site.auditor.reviews
    val = reviews.session_user("val")
    current = reviews.record(val, site.ids[0]).assignee
    assigned = reviews.assign(val, site.ids[0], "dana" if current != "dana" else "rita")
    db = backup(site.db, tmp_path / "copy.db")
    statement = {
        "edit": "UPDATE assignments SET assignee='mallory' WHERE id=?",
        "delete": "DELETE FROM assignments WHERE id=?",
        "edit-event": "UPDATE events SET payload=replace(payload, 'val', 'mallory') WHERE subject_id=?",
    }[what]
    shell(db, statement, params=[assigned.id])
    report = verify_database(db, resolve_pins(db, []))
    assert report.problems, what
    assert any("assignment" in str(p) for p in report.problems), report.problems
    with AuditStore.open(db) as store:
        assert check_record(store, site.ids[0], None).state == "failed"
