"""The workspace's JSON API and forms over a real HTTP client: every role x action, CSRF, sessions, tokens.

(The login back-off and the other security properties of #29 are tested in ``test_ui_security.py``.)

One server per module on a free loopback port (uvicorn in a thread), over a database of tiny-model
records. A refused request must leave the database file byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import httpx
import pytest

from audit import Auditor
from audit.review.logins import Backoff, LoginPolicy
from audit.review.roles import ROLES, Principal
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.ui.security import CSP, Sessions
from audit.web.background import BackgroundServer
from tests.conftest import REPO, one_torch_thread

PASSWORD = "correct horse battery"
CLI = Principal("root", "admin", "cli")
USERS = {
    "vera": "viewer",
    "rita": "reviewer",
    "val": "validator",
    "ada": "admin",
    "dana": "reviewer",
    "lou": "reviewer",
}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Workspace:
    def __init__(self, db: Path, url: str, auditor: Auditor, ids: dict[str, str], clock: Clock, app) -> None:
        self.db, self.url, self.auditor, self.ids, self.clock, self.app = db, url, auditor, ids, clock, app
        self.sessions: dict[str, tuple[httpx.Client, str]] = {}

    @property
    def reviews(self):
        return self.auditor.reviews

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def login(self, name: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
        client = self.client()
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        return client, client.post("/login", data={"csrf": token, "name": name, "password": password, "next": "/queue"})

    def session(self, name: str) -> tuple[httpx.Client, str]:
        """A logged-in client of ``name`` and its CSRF token (one login per user per module)."""
        if name not in self.sessions:
            client, done = self.login(name)
            assert done.status_code == 303, done.text
            self.sessions[name] = (client, client.get("/api/me").json()["csrf"])
        return self.sessions[name]

    def state(self) -> tuple[str, ...]:
        """The database's bytes (main file and WAL; an empty WAL is no WAL), once no job is running."""
        jobs = self.reviews.jobs
        if jobs is not None:
            for job in list(jobs._jobs.values()):
                jobs.wait(job.id, 120)
        files = [self.db, self.db.with_name(self.db.name + "-wal")]
        return tuple(
            hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() and f.stat().st_size else "-" for f in files
        )


@pytest.fixture(scope="module")
def ws(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-api")
    db = folder / "audit.db"
    policy = REPO / "examples" / "privacy" / "policy.toml"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops", policy=policy, key_store=folder / "keys.json")
    with one_torch_thread():
        main = auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "42000", "score": "580"},
            max_new_tokens=3,
            use_case="credit-decision",
        )
        sealed = auditor.generate(
            template="Applicant {applicant_name} ({customer_id}), e-mail {email}. Approve?",
            variables={"applicant_name": "Margarethe Okonkwo", "email": "m.okonkwo@example.org", "customer_id": "C-1"},
            max_new_tokens=3,
            use_case="credit-decision",
        )
        decided = auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "42000", "score": "580"},
            max_new_tokens=3,
            use_case="credit-decision",
            decision={"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"},
        )
        by_rita = auditor.with_model(tiny_loaded)
        by_rita.operator = "rita"
        own = by_rita.generate(prompt="Summarise: rates rose.", max_new_tokens=3, use_case="news")
    for name, role in USERS.items():
        auditor.reviews.accounts.add(CLI, name, role, PASSWORD)
    clock = Clock()
    auditor.reviews.accounts.policy = LoginPolicy(
        per_address=Backoff(5, 30, 3600), per_account=Backoff(20, 30, 3600), clock=clock
    )
    app = create_app(auditor.reviews, sessions=Sessions(lifetime=3600, clock=clock))
    with BackgroundServer(app) as server:
        yield Workspace(
            db,
            server.url,
            auditor,
            {"main": main.id, "sealed": sealed.id, "own": own.id, "decided": decided.id},
            clock,
            app,
        )


def test_anonymous_requests_get_401_or_the_login_page_and_every_response_has_the_csp(ws):
    client = ws.client()
    api = client.get("/api/queue")
    assert api.status_code == 401 and "log in first" in api.json()["error"]
    page = client.get("/queue")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fqueue"
    posted = client.post(f"/api/records/{ws.ids['main']}/reviews", json={"action": "accept"})
    assert posted.status_code == 401
    for response in (api, page, posted, client.get("/login"), client.get("/static/ui.css")):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in CSP and "default-src 'none'" in CSP


def _open_finding(ws) -> str:
    return ws.reviews.add_finding(ws.reviews.session_user("rita"), ws.ids["main"], "low", "data", "check the income").id


def _latest(ws, record_id: str) -> str | None:
    """The id of the record's latest sign-off (what a sign-off made on the current state names)."""
    with AuditStore.open(ws.db) as store:
        reviews = store.reviews.of_record(record_id)
    return reviews[-1].id if reviews else None


ACTIONS = {
    # action -> (minimum role, request(ws, client, csrf) -> response, expected status when allowed)
    "read-queue": ("viewer", lambda ws, c, t: c.get("/api/queue"), 200),
    "read-records": ("viewer", lambda ws, c, t: c.get("/api/records?use_case=credit-decision"), 200),
    "read-record": ("viewer", lambda ws, c, t: c.get(f"/api/records/{ws.ids['main']}"), 200),
    "sign-off": (
        "reviewer",
        lambda ws, c, t: c.post(
            f"/api/records/{ws.ids['main']}/reviews",
            json={"action": "accept", "rationale": "ok", "based_on": _latest(ws, ws.ids["main"])},
            headers={"X-CSRF-Token": t},
        ),
        201,
    ),
    "add-finding": (
        "reviewer",
        lambda ws, c, t: c.post(
            f"/api/records/{ws.ids['main']}/findings",
            json={"severity": "medium", "area": "data", "text": "income unverified"},
            headers={"X-CSRF-Token": t},
        ),
        201,
    ),
    "resolve-finding": (
        "validator",
        lambda ws, c, t: c.post(
            f"/api/findings/{_open_finding(ws)}/resolve",
            json={"text": "verified with payslips"},
            headers={"X-CSRF-Token": t},
        ),
        201,
    ),
    "request-job": (
        "validator",
        lambda ws, c, t: c.post(
            f"/api/records/{ws.ids['main']}/jobs", json={"kind": "replay"}, headers={"X-CSRF-Token": t}
        ),
        202,
    ),
    "manage-users": (
        "admin",
        lambda ws, c, t: c.post("/users", data={"csrf": t, "op": "set-role", "name": "lou", "role": "viewer"}),
        303,
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_every_role_and_action_is_allowed_or_refused_with_nothing_stored(ws, role, action):
    name = {"viewer": "vera", "reviewer": "rita", "validator": "val", "admin": "ada"}[role]
    minimum, request, status = ACTIONS[action]
    client, csrf = ws.session(name)
    allowed = ROLES.index(role) >= ROLES.index(minimum)
    if action == "resolve-finding" and not allowed:
        finding = _open_finding(ws)

        def request(ws, c, t):
            return c.post(f"/api/findings/{finding}/resolve", json={"text": "x"}, headers={"X-CSRF-Token": t})

    before = ws.state()
    with AuditStore.open(ws.db) as store:
        events = store.events.count()
    response = request(ws, client, csrf)
    if allowed:
        assert response.status_code == status, response.text
        if status != 200:
            ws.state()  # let a job finish
            with AuditStore.open(ws.db) as store:
                assert store.events.count() > events
        if action == "manage-users":
            ws.reviews.accounts.set_role(CLI, "lou", "reviewer")
    else:
        assert response.status_code == 403, response.text
        assert "may not" in response.text
        assert ws.state() == before


def test_missing_or_wrong_csrf_token_is_refused_and_nothing_stored(ws):
    client, csrf = ws.session("rita")
    url = f"/api/records/{ws.ids['main']}/reviews"
    before = ws.state()
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
        response = client.post(url, json={"action": "accept"}, headers=headers)
        assert response.status_code == 403 and "CSRF" in response.json()["error"]
    form = client.post(f"/records/{ws.ids['main']}/reviews", data={"action": "accept", "csrf": "forged"})
    assert form.status_code == 403 and "CSRF token" in form.text
    assert client.post("/logout", data={}).status_code == 403
    assert ws.state() == before


def test_expired_forged_and_logged_out_sessions_are_refused(ws):
    sessions = ws.app.state.sessions
    old, _ = sessions.issue("rita", issued=ws.clock() - sessions.lifetime - 1)
    for cookie, words in ((old, "expired"), (old[:-2] + "xx", "not valid")):
        client = ws.client()
        client.cookies.set("llm_audit_session", cookie)
        response = client.get("/api/queue")
        assert response.status_code == 401 and words in response.json()["error"]
        assert client.get("/records").status_code == 303
    client, done = ws.login("rita")
    cookie = client.cookies["llm_audit_session"]
    csrf = client.get("/api/me").json()["csrf"]
    assert client.post("/logout", data={"csrf": csrf}).headers["location"] == "/login"
    copy = ws.client()
    copy.cookies.set("llm_audit_session", cookie)
    assert copy.get("/api/me").json()["error"] == "the session was logged out: log in again"
    with AuditStore.open(ws.db) as store:
        assert [e.kind for e in store.events.iter(subject_id="user:rita")][-2:] == ["login", "logout"]


def test_a_disabled_user_loses_their_session_at_once_and_cannot_log_in(ws):
    client, csrf = ws.session("dana")
    assert client.get("/api/queue").status_code == 200
    ws.reviews.accounts.disable(CLI, "dana")
    try:
        response = client.post(
            f"/api/records/{ws.ids['main']}/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 401 and "disabled" in response.json()["error"]
        _, login = ws.login("dana")
        assert login.status_code == 401 and "disabled" in login.text
        _, wrong = ws.login("dana", "not the password at all")
        assert (
            wrong.status_code == 401 and "disabled" not in wrong.text
        )  # the state is shown only to the right password
    finally:
        ws.reviews.accounts.enable(CLI, "dana")


def test_four_eyes_nobody_signs_off_a_record_they_recorded(ws):
    client, csrf = ws.session("rita")
    before = ws.state()
    response = client.post(
        f"/api/records/{ws.ids['own']}/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 403 and "four eyes" in response.json()["error"]
    assert ws.state() == before
    page = client.get(f"/records/{ws.ids['own']}")
    assert "four eyes" in page.text and 'action="/records/' + ws.ids["own"] + '/reviews"' not in page.text


def test_ids_are_validated_before_any_lookup(ws):
    client, csrf = ws.session("rita")
    assert client.get("/api/records/not-an-id").status_code == 400
    assert client.get("/api/records/01a2259f' OR 1=1 --").status_code == 400
    missing = client.get("/api/records/01a2259f-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and "no record" in missing.json()["error"]
    assert client.get("/api/jobs/zzz").status_code == 400
    bad = client.post("/api/records/nope/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400
    assert client.get("/api/records?since=yesterday").status_code == 400
    assert client.get("/api/queue?page=-1").status_code == 400


def test_a_personal_api_token_authenticates_without_csrf(ws):
    token = ws.reviews.accounts.issue_token(CLI, "val")
    api = httpx.Client(base_url=ws.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
    me = api.get("/api/me").json()
    assert (me["name"], me["role"], me["via"]) == ("val", "validator", "api") and "csrf" not in me
    found = api.post(
        f"/api/records/{ws.ids['main']}/findings", json={"severity": "low", "area": "outcome", "text": "via token"}
    )
    assert found.status_code == 201 and found.json()["via"] == "api"
    wrong = httpx.get(f"{ws.url}/api/me", headers={"Authorization": "Bearer lla_forged"}, timeout=30)
    assert wrong.status_code == 401
    with AuditStore.open(ws.db) as store:
        assert token not in str(list(store.db.execute("SELECT * FROM credentials")))


def test_sealed_content_in_clear_only_for_the_policy_roles_and_each_viewing_logged(ws):
    rid = ws.ids["sealed"]
    vera, _ = ws.session("vera")
    shown = vera.get(f"/api/records/{rid}").json()
    assert shown["record"]["sealed"] and "Okonkwo" not in str(shown) and not shown["record"]["clear_shown"]
    assert vera.get("/api/records?q=Applicant").json()["total"] == 0  # sealed records are not in the text index
    before = ws.state()
    refused = vera.get(f"/api/records/{rid}?clear=1")
    assert refused.status_code == 403 and "validator, admin" in refused.json()["error"]
    assert ws.state() == before
    ada, csrf = ws.session("ada")
    clear = ada.get(f"/api/records/{rid}?clear=1").json()
    assert clear["record"]["clear_shown"] and "Margarethe Okonkwo" in clear["record"]["prompt"]
    page = ada.post(f"/records/{rid}/clear", data={"csrf": csrf})
    assert page.status_code == 200 and "Margarethe Okonkwo" in page.text and "This viewing is logged" in page.text
    with AuditStore.open(ws.db) as store:
        views = store.access.clear_views(rid)
    assert [(v["user"], v["role"]) for v in views] == [("ada", "admin"), ("ada", "admin")]


def test_a_requested_explanation_runs_in_the_worker_and_shows_on_the_record_page(ws):
    client, csrf = ws.session("val")
    rid = ws.ids["main"]
    requested = client.post(
        f"/api/records/{rid}/jobs", json={"kind": "explain", "granularity": "field"}, headers={"X-CSRF-Token": csrf}
    )
    assert requested.status_code == 202 and requested.json()["state"] in ("queued", "running")
    job_id = requested.json()["id"]
    deadline = time.monotonic() + 120
    while (state := client.get(f"/api/jobs/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["state"] == "done", state
    with AuditStore.open(ws.db) as store:
        stored = store.explanations.get(state["result_id"])
        finished = list(store.events.iter(subject_id=job_id))
    assert (stored.record_id, stored.method, stored.granularity) == (rid, "feature-ablation", "field")
    assert [e.kind for e in finished] == ["job-requested", "job-finished"] and finished[1].payload["state"] == "done"
    page = client.get(f"/records/{rid}").text
    assert "No field-level attribution has been computed" not in page and "feature-ablation" in page
    bad = client.post(
        f"/api/records/{rid}/jobs", json={"kind": "explain", "method": "magic"}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 400


def _requests(fields: dict[str, tuple[str, ...]]) -> list[dict[str, str]]:
    """Every combination of each field missing or given one of its values."""
    combos: list[dict[str, str]] = [{}]
    for name, values in fields.items():
        combos = [{**c, **({name: v} if v is not None else {})} for c in combos for v in (None, *values)]
    return combos


FORMS = {
    # kind -> (user, page path, API path, field values); every combination is tried, the accepted ones skipped
    "sign-off": ("rita", "/records/{id}/reviews", "/api/records/{id}/reviews", {
        "action": ("", "accept", "override", "approve"), "decision": ("", "DECLINE"), "rationale": ("", "why")
    }),
    "finding": ("rita", "/records/{id}/findings", "/api/records/{id}/findings", {
        "severity": ("", "low", "urgent"), "area": ("data", "weather"), "text": ("", "x")
    }),
    "job": ("val", "/records/{id}/jobs", "/api/records/{id}/jobs", {
        "kind": ("", "explain", "magic"), "method": ("", "magic")
    }),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(FORMS))
def test_the_page_and_the_api_refuse_the_same_requests_with_the_same_status_and_message(ws, kind):
    """One typed command per action: a form post and a JSON body with the same fields get the same answer."""
    from markupsafe import escape

    name, page_path, api_path, fields = FORMS[kind]
    client, csrf = ws.session(name)
    rid = ws.ids["main"]

    def events() -> int:
        ws.state()  # no job running
        with AuditStore.open(ws.db) as store:
            return store.events.count()

    refused = 0
    for request in _requests(fields):
        logged = events()
        api = client.post(api_path.format(id=rid), json=request, headers={"X-CSRF-Token": csrf})
        if api.status_code < 400:  # an accepted request (stored): the page path is exercised elsewhere
            continue
        page = client.post(page_path.format(id=rid), data={**request, "csrf": csrf})
        assert page.status_code == api.status_code and api.status_code in (400, 409), (request, api.text)
        assert str(escape(api.json()["error"])) in page.text, request
        assert events() == logged, request  # nothing stored by either
        refused += 1
    assert refused >= 8


def test_the_record_page_headline_says_when_the_labels_hold_too_little_probability(ws):
    """The workspace's headline, above the dossier, states the label mass as the dossier does, and the queue says why."""
    import html as entities
    import math

    from audit.decision.mass import share_text

    client, _ = ws.session("val")
    rid = ws.ids["decided"]
    d = ws.auditor.get(rid).decision
    mass = sum(math.exp(lp) for lp in d.label_logprobs.values())  # the tiny random model: far below 0.5
    page = entities.unescape(client.get(f"/records/{rid}").text)
    headline = f"Not a decision the model made: the model put only {share_text(mass)} of its probability on the labels"
    assert mass < 0.5 and headline in page
    assert page.index('id="decision"') < page.index(headline) < page.index('id="signoff"')  # the first thing read
    assert "label-mass" in page and f"label mass {share_text(mass)}" in page  # the queue's reason
