"""The workspace's security defects of #29, each as an HTTP test that failed before its fix.

One server per module on a free loopback port (uvicorn in a thread) that believes
``X-Forwarded-For``/``-Proto`` from 127.0.0.1 (``--forwarded-allow-ips 127.0.0.1``), so a test
speaks from any client address by naming it; the login back-off's clock is the test's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from audit import Auditor
from audit.cli import main
from audit.review.logins import Backoff, LoginPolicy
from audit.review.roles import Principal
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.ui.security import HSTS, Sessions
from audit.web.background import BackgroundServer
from tests.conftest import one_torch_thread

PASSWORD = "correct horse battery"
CLI = Principal("root", "admin", "cli")
FREE, BASE = 3, 10.0  # per name and address: 3 failures in a row, then 10 s, 20 s, 40 s ... at most 80 s
ACCOUNT_FREE = 6  # per name from every address


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class Site:
    def __init__(self, db: Path, url: str, auditor: Auditor, ids: dict[str, str], clock: Clock, app) -> None:
        self.db, self.url, self.auditor, self.ids, self.clock, self.app = db, url, auditor, ids, clock, app
        self.reviews = auditor.reviews
        self._users = 0

    def user(self, role: str = "reviewer", prefix: str = "u") -> str:
        """A new user of ``role`` (each test its own, so holds and sessions never leak between tests)."""
        self._users += 1
        name = f"{prefix}{self._users}"
        self.reviews.accounts.add(CLI, name, role, PASSWORD)
        return name

    def client(self, address: str | None = None, proto: str | None = None) -> httpx.Client:
        headers = {}
        if address:
            headers["X-Forwarded-For"] = address
        if proto:
            headers["X-Forwarded-Proto"] = proto
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False, headers=headers)

    def login(self, name: str, password: str = PASSWORD, *, address: str | None = None, client=None):
        client = client or self.client(address)
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        return client, client.post("/login", data={"csrf": token, "name": name, "password": password, "next": "/queue"})

    def session(self, name: str, address: str | None = None) -> tuple[httpx.Client, str]:
        client, done = self.login(name, address=address)
        assert done.status_code == 303, done.text
        return client, client.get("/api/me").json()["csrf"]

    def events(self) -> int:
        with AuditStore.open(self.db) as store:
            return store.events.count()


@pytest.fixture(scope="module")
def site(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-security")
    db = folder / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops", key_store=folder / "keys.json")
    spec = {"labels": ["APPROVE", "DECLINE", "REFER"], "favourable": "APPROVE"}
    with one_torch_thread():
        ids = {
            f"decided{i}": auditor.generate(
                prompt=f"Income 4{i}000, score 580. Approve?", max_new_tokens=3, use_case="credit", decision=spec
            ).id
            for i in range(4)
        }
        ids["free"] = auditor.generate(prompt="Summarise: rates rose.", max_new_tokens=3, use_case="news").id
    clock = Clock()
    auditor.reviews.accounts.policy = LoginPolicy(
        per_address=Backoff(FREE, BASE, 8 * BASE), per_account=Backoff(ACCOUNT_FREE, BASE, 8 * BASE), clock=clock
    )
    for name, role in (("ada", "admin"), ("rita", "reviewer"), ("dana", "reviewer")):
        auditor.reviews.accounts.add(CLI, name, role, PASSWORD)
    app = create_app(auditor.reviews, sessions=Sessions(lifetime=24 * 3600, clock=clock))
    with BackgroundServer(app, proxy_headers=True, forwarded_allow_ips=["127.0.0.1"]) as server:
        yield Site(db, server.url, auditor, ids, clock, app)


def _shown(response: httpx.Response) -> str:
    """A login page as the client sees it, less the new form token it carries."""
    return re.sub(r'name="csrf" value="[^"]+"', "", response.text)


# -- 1, 2: back-off per name and address, one answer for every name --------------------------------
def test_every_name_gets_the_same_answers_and_work_until_the_password_is_right(site, monkeypatch):
    """An account, a disabled account and a name that is no account: the same statuses, pages, Retry-After
    and Argon2 verifications at every step (none while held back), with a wait that doubles."""
    import audit.review.logins as logins

    known, disabled = site.user(), site.user()
    site.reviews.accounts.disable(CLI, disabled)
    names = {"known": known, "disabled": disabled, "unknown": "nobody-by-that-name"}
    addresses = {kind: f"10.1.0.{i}" for i, kind in enumerate(names, 1)}
    verified = []
    real = logins.verify
    monkeypatch.setattr(logins, "verify", lambda stored, password: verified.append(1) or real(stored, password))

    def step(password: str) -> dict[str, tuple]:
        seen = {}
        for kind, name in names.items():
            before = len(verified)
            _, r = site.login(name, password, address=addresses[kind])
            seen[kind] = (r.status_code, r.headers.get("retry-after"), _shown(r), len(verified) - before)
        return seen

    steps = [step(f"wrong password {i}") for i in range(FREE)]
    steps.append(step(PASSWORD))  # the right password while held back: not even checked
    site.clock.now += BASE + 1
    steps.append(step("wrong again, once"))
    for seen in steps:
        assert seen["known"] == seen["disabled"] == seen["unknown"], seen
    statuses = [s["known"][0] for s in steps]
    waits = [s["known"][1] for s in steps]
    work = [s["known"][3] for s in steps]
    assert statuses == [401] * (FREE - 1) + [429, 429, 429]
    assert waits == [None] * (FREE - 1) + [str(int(BASE)), str(int(BASE)), str(int(2 * BASE))]  # doubled
    assert work == [1] * FREE + [0, 1]
    assert "wrong user name or password" in steps[0]["known"][2]
    assert "too many failed logins for this name" in steps[-1]["known"][2] and known not in steps[-1]["known"][2]
    site.clock.now += 2 * BASE + 1
    right = step(PASSWORD)
    assert right["known"][0] == 303
    assert right["disabled"][0] == 401 and "is disabled" in right["disabled"][2]  # only the right password learns it
    assert right["unknown"][0] == 429  # no password is right for no account: one more failure, a longer wait


def test_a_held_name_never_holds_up_others_at_the_same_address_nor_itself_elsewhere(site):
    kim, lee = site.user(), site.user()
    office = "10.2.0.1"
    for i in range(FREE):
        site.login(kim, f"typo {i}", address=office)
    assert site.login(kim, address=office)[1].status_code == 429
    assert site.login(lee, address=office)[1].status_code == 303  # the colleague behind the same address
    assert site.login(kim, address="10.2.0.2")[1].status_code == 303  # kim from another address


def test_a_guesser_spread_over_addresses_is_held_back_but_not_at_the_users_own_address(site):
    kim = site.user()
    home = "10.3.0.100"
    assert site.login(kim, address=home)[1].status_code == 303
    for i in range(ACCOUNT_FREE):
        assert site.login(kim, f"guess {i}", address=f"10.3.1.{i}")[1].status_code in (401, 429)
    assert site.login(kim, address="10.3.2.1")[1].status_code == 429  # a new address: held back
    assert site.login(kim, address=home)[1].status_code == 303  # the address kim last logged in from
    with AuditStore.open(site.db) as store:
        reasons = [e.payload["reason"] for e in store.events.iter(subject_id=f"user:{kim}") if e.kind == "login-failed"]
    assert reasons == ["password"] * ACCOUNT_FREE + ["locked"]


@pytest.mark.parametrize("how", ["cli-unlock", "page-unlock", "password", "enable"])
def test_an_admin_unlocks_and_a_new_password_or_enable_unlocks_and_the_users_page_shows_it(site, how):
    kim = site.user()
    address = f"10.4.0.{['cli-unlock', 'page-unlock', 'password', 'enable'].index(how) + 1}"
    if how == "enable":
        site.reviews.accounts.disable(CLI, kim)
    for i in range(FREE):
        site.login(kim, f"typo {i}", address=address)
    ada, csrf = site.session("ada")
    page = ada.get("/users").text
    row = next(line for line in page.splitlines() if f"<td>{kim}</td>" in line)
    assert 'class="state locked"' in row and address in row
    assert f'name="op" value="unlock"><input type="hidden" name="name" value="{kim}"' in page
    listed = site.reviews.accounts.get(kim).to_dict()  # what `users list --json` shows
    assert listed["locked_from"] == [address] and listed["locked_until"]
    if how == "cli-unlock":
        result = CliRunner().invoke(main, ["users", "unlock", kim, "--db", str(site.db)])
        assert result.exit_code == 0 and f"unlocked {kim}" in result.output
    elif how == "page-unlock":
        assert ada.post("/users", data={"csrf": csrf, "op": "unlock", "name": kim}).status_code == 303
    elif how == "password":
        result = CliRunner().invoke(
            main, ["users", "password", kim, "--password-stdin", "--db", str(site.db)], input=PASSWORD + "\n"
        )
        assert result.exit_code == 0, result.output
    else:
        assert ada.post("/users", data={"csrf": csrf, "op": "enable", "name": kim}).status_code == 303
    assert site.login(kim, address=address)[1].status_code == 303
    row = next(line for line in ada.get("/users").text.splitlines() if f"<td>{kim}</td>" in line)
    assert "locked" not in row
    with AuditStore.open(site.db) as store:
        unlocks = [e.payload for e in store.events.iter(subject_id=f"user:{kim}") if e.kind == "unlock"]
    why = {"cli-unlock": "unlocked", "page-unlock": "unlocked", "password": "new password", "enable": "enabled"}[how]
    assert [u["why"] for u in unlocks] == [why]
    assert unlocks[0]["via"] == ("web" if how in ("page-unlock", "enable") else "cli")


# -- 4: the session cookie survives another site's link ----------------------------------------------
def test_the_session_cookie_is_lax_and_a_refused_page_does_not_delete_it(site):
    client, done = site.login(site.user())
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("llm_audit_session="))
    assert "llm_audit_session=" in cookie and "samesite=lax" in cookie.lower() and "httponly" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here
    stranger = site.client()  # what a browser sends on a cross-site link under SameSite=Strict: no cookie
    forged = site.client()
    forged.cookies.set("llm_audit_session", "forged")
    for response in (stranger.get("/queue"), forged.get("/queue")):
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        assert "set-cookie" not in response.headers  # the session the browser holds is left alone
    assert client.get("/queue").status_code == 200


# -- 5: sessions and tokens end when the account changes ----------------------------------------------
CHANGES = {
    "password": lambda a, n: a.set_password(CLI, n, PASSWORD + "!"),
    "set-role": lambda a, n: a.set_role(CLI, n, "validator"),
    "disable": lambda a, n: a.disable(CLI, n),
    "disable-then-enable": lambda a, n: (a.disable(CLI, n), a.enable(CLI, n)),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_of_password_role_or_state_ends_sessions_and_tokens(site, change):
    name = site.user()
    client, csrf = site.session(name, address="10.5.0.1")
    token = site.reviews.accounts.issue_token(CLI, name)
    api = httpx.Client(base_url=site.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/me").status_code == 200 and api.get("/api/me").status_code == 200
    CHANGES[change](site.reviews.accounts, name)
    me = client.get("/api/me")
    assert me.status_code == 401 and "/" not in me.json()["error"].replace("/api", "")
    assert client.get("/queue").status_code == 303
    assert api.get("/api/me").status_code == 401
    assert not site.reviews.accounts.get(name).has_token
    if change != "disable":  # a new login works (with the new password)
        password = PASSWORD + "!" if change == "password" else PASSWORD
        fresh, done = site.login(name, password, address="10.5.0.1")
        assert done.status_code == 303 and fresh.get("/api/me").json()["name"] == name


# -- 6: the body limit holds before the body is read ------------------------------------------------
def _raw(site, head: bytes, body_chunks=(), timeout: float = 30) -> bytes:
    host, port = site.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


@pytest.mark.parametrize("path", ["/login", "/api/records/01a2259f-0000-7000-8000-000000000000/reviews", "/users"])
def test_a_huge_declared_body_is_refused_without_reading_it(site, path):
    before = site.events()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
    ).encode()
    answer = _raw(site, head)  # no body is ever sent: an answer at all means it was not waited for
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    if path.startswith("/api/"):
        error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
        assert error.startswith("the request body is larger than 64 KiB") and "/" not in error
    assert site.events() == before


def test_a_chunked_body_is_cut_off_at_the_limit(site):
    head = (
        b"POST /api/records/01a2259f-0000-7000-8000-000000000000/reviews HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 8192
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(4096))  # 32 MiB if all were read
    answer = _raw(site, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_the_limit_reads_no_more_than_it_allows():
    """The middleware alone: a chunked body of 1,000 chunks of 64 KiB is answered after reading at most two."""
    import asyncio

    from audit.ui.limits import BodyLimit

    pulled, sent = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 65536, "more_body": len(pulled) < 1000}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the application read a body over the limit")

    scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": []}
    asyncio.run(BodyLimit(app, 64 * 1024)(scope, receive, send))
    assert len(pulled) <= 2 and sent[0]["status"] == 413


# -- 7: one person, however the name is typed --------------------------------------------------------
VARIANTS = ["rosa", "Rosa", " rosa", "rosa ", "ROSA\t", "\u00a0rosa", "ｒｏｓａ", "ℛosa"]


def test_four_eyes_and_accounts_see_one_person_in_every_spelling(site, tiny_loaded):
    from audit.review.names import person

    assert {person(v) for v in VARIANTS} == {"rosa"}
    site.reviews.accounts.add(CLI, VARIANTS[-1], "reviewer", PASSWORD)  # stored as "rosa"
    for variant in VARIANTS:
        with pytest.raises(Exception, match="already exists"):
            site.reviews.accounts.add(CLI, variant, "viewer", PASSWORD)
    by_variant = site.auditor.with_model(tiny_loaded)
    recorded = []
    with one_torch_thread():
        for variant in VARIANTS:
            by_variant.operator = variant
            recorded.append(by_variant.generate(prompt="Summarise: rates rose.", max_new_tokens=2, use_case="news").id)
    for i, variant in enumerate(VARIANTS):
        client, login = site.login(variant, address=f"10.7.0.{i + 1}")
        assert login.status_code == 303, variant
        csrf = client.get("/api/me").json()["csrf"]
        before = site.events()
        for rid in recorded:
            refused = client.post(
                f"/api/records/{rid}/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": csrf}
            )
            assert refused.status_code == 403 and "four eyes" in refused.json()["error"], (variant, rid)
        assert site.events() == before
    assert [a.name for a in site.reviews.accounts.list()].count("rosa") == 1


def test_an_account_added_before_names_were_normalised_is_still_one_person(site):
    from audit.review.accounts import hash_password
    from audit.store.users import UserChange

    with AuditStore.open(site.db, write=True) as store:  # as an older llm-audit stored it
        store.users.append(
            UserChange("01a2259f-0000-7000-8000-0000000000aa", "Olga", "add", "reviewer", False, "root", "cli", "x"),
            password_hash=hash_password(PASSWORD),
        )
    with pytest.raises(Exception, match="already exists"):
        site.reviews.accounts.add(CLI, " OLGA", "viewer", PASSWORD)
    client, done = site.login("olga ", address="10.7.1.1")
    assert done.status_code == 303 and client.get("/api/me").json()["name"] == "Olga"
    assert site.reviews.accounts.set_role(CLI, "olga", "validator").role == "validator"


# -- 8: TLS and a proxy's scheme: Secure cookies and HSTS -----------------------------------------------
def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _secure_and_hsts(client: httpx.Client, name: str) -> tuple[bool, bool]:
    """Log in; whether the session cookie is Secure and the answer carries HSTS. (The login form's cookie is
    sent back by hand: behind a proxy the browser speaks HTTPS, this client plain HTTP.)"""
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    login_cookie = form.headers["set-cookie"].split(";")[0]
    done = client.post(
        "/login", data={"csrf": token, "name": name, "password": PASSWORD}, headers={"Cookie": login_cookie}
    )
    assert done.status_code == 303, done.text
    session = next(c for c in done.headers.get_list("set-cookie") if c.startswith("llm_audit_session="))
    attributes = [a.strip().lower() for a in session.split(";")]
    return "secure" in attributes, done.headers.get("strict-transport-security") == HSTS


def test_tls_and_an_allowed_proxys_https_make_the_cookie_secure_with_hsts(site, tmp_path):
    import ssl

    cert, key = _certificate(tmp_path)
    reviews = Auditor(db=site.db).reviews
    with BackgroundServer(create_app(reviews), ssl_certfile=str(cert), ssl_keyfile=str(key)) as tls:
        assert tls.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        client = httpx.Client(base_url=tls.url, verify=context, timeout=30)
        assert _secure_and_hsts(client, site.user()) == (True, True)
        assert client.get("/login").headers["strict-transport-security"] == HSTS
    assert _secure_and_hsts(site.client(), site.user()) == (False, False)  # plain HTTP
    assert _secure_and_hsts(site.client(proto="https"), site.user()) == (True, True)  # from the allowed proxy
    other = Auditor(db=site.db).reviews
    with BackgroundServer(create_app(other), proxy_headers=True, forwarded_allow_ips=["10.9.9.9"]) as untrusted:
        client = httpx.Client(
            base_url=untrusted.url, timeout=30, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.8.8.8"}
        )
        name = site.user()
        assert _secure_and_hsts(client, name) == (False, False)  # a client may not claim HTTPS
        with AuditStore.open(site.db) as store:
            login = [e for e in store.events.iter(subject_id=f"user:{name}") if e.kind == "login"][-1]
        assert login.payload["client"] == "127.0.0.1"  # nor another address


def test_the_ui_command_refuses_half_a_tls_setting_before_loading_anything(tmp_path):
    cert, key = _certificate(tmp_path)
    for args, words in (
        (["--tls-cert", str(cert)], "give both --tls-cert and --tls-key"),
        (["--tls-key", str(key)], "give both --tls-cert and --tls-key"),
        (["--tls-cert", str(tmp_path / "no.pem"), "--tls-key", str(key)], "does not exist"),
        (["--forwarded-allow-ips", " , "], "needs the proxy's addresses"),
    ):
        result = CliRunner().invoke(main, ["ui", "--db", str(tmp_path / "none.db"), *args])
        assert result.exit_code == 2 and words in result.output, result.output
    from audit.ui.server import transport_options

    assert transport_options(None, None, None) == {"proxy_headers": False}  # no forwarded header believed
    assert transport_options(cert, key, " 10.0.0.5, 10.0.0.6") == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "10.0.0.6"],
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }


# -- 9: single-use login forms, one session per login --------------------------------------------------
def test_a_login_form_is_used_once_and_a_second_login_ends_the_first_session(site):
    first, second = site.user(), site.user()
    client = site.client("10.9.0.1")
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    cookie = {"Cookie": form.headers["set-cookie"].split(";")[0]}  # the form's cookie, replayed with it
    wrong = client.post("/login", data={"csrf": token, "name": first, "password": "not the password"}, headers=cookie)
    assert wrong.status_code == 401
    replay = client.post("/login", data={"csrf": token, "name": first, "password": PASSWORD}, headers=cookie)
    assert replay.status_code == 403 and "already used" in replay.text
    client, done = site.login(first, client=client)
    assert done.status_code == 303
    kept = client.cookies["llm_audit_session"]
    client, again = site.login(second, client=client)
    assert again.status_code == 303 and client.get("/api/me").json()["name"] == second
    old = site.client()
    old.cookies.set("llm_audit_session", kept)
    refused = old.get("/api/me")
    assert refused.status_code == 401 and "logged out" in refused.json()["error"]


# -- 10: safe sign-off --------------------------------------------------------------------------------
def test_a_sign_off_on_a_stale_state_is_refused_and_the_page_shows_who_signed(site):
    rid = site.ids["decided0"]
    rita, rita_csrf = site.session("rita", "10.10.0.1")
    dana, dana_csrf = site.session("dana", "10.10.0.2")
    assert rita.get(f"/api/records/{rid}").json()["based_on"] is None
    first = rita.post(f"/api/records/{rid}/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": rita_csrf})
    assert first.status_code == 201
    before = site.events()
    stale = dana.post(f"/api/records/{rid}/reviews", json={"action": "accept"}, headers={"X-CSRF-Token": dana_csrf})
    assert stale.status_code == 409 and "rita (reviewer) accepted" in stale.json()["error"]
    page = dana.post(f"/records/{rid}/reviews", data={"csrf": dana_csrf, "action": "accept", "based_on": ""})
    assert page.status_code == 409 and "rita (reviewer) accepted" in page.text
    assert f'name="based_on" value="{first.json()["id"]}"' in page.text  # the page now offers the new state
    assert site.events() == before
    named = dana.post(
        f"/api/records/{rid}/reviews",
        json={"action": "accept", "based_on": first.json()["id"]},
        headers={"X-CSRF-Token": dana_csrf},
    )
    assert named.status_code == 201
    cli = ["review", rid, "--accept", "--operator", "rita", "--db", str(site.db)]
    stale_cli = CliRunner().invoke(main, cli)  # the command line names nothing: "no sign-off yet", now stale
    assert stale_cli.exit_code == 2 and "dana (reviewer) accepted" in stale_cli.output
    fresh = CliRunner().invoke(main, [*cli, "--based-on", named.json()["id"]])
    assert fresh.exit_code == 0, fresh.output


def test_two_concurrent_sign_offs_on_one_state_give_one_201_and_one_409(site):
    rid = site.ids["decided1"]
    signers = [site.session("rita", "10.11.0.1"), site.session("dana", "10.11.0.2")]
    based_on = None
    for _ in range(4):
        barrier = threading.Barrier(2, timeout=30)
        statuses: list[int] = []

        def sign(client, csrf, based_on=based_on, barrier=barrier, statuses=statuses):
            barrier.wait()
            statuses.append(
                client.post(
                    f"/api/records/{rid}/reviews",
                    json={"action": "accept", "based_on": based_on},
                    headers={"X-CSRF-Token": csrf},
                ).status_code
            )

        threads = [threading.Thread(target=sign, args=s) for s in signers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(statuses) == [201, 409]
        with AuditStore.open(site.db) as store:
            based_on = store.reviews.of_record(rid)[-1].id


def test_an_override_chooses_another_label_or_no_decision_on_the_page_and_the_api_alike(site):
    rid = site.ids["decided2"]
    with AuditStore.open(site.db) as store:
        chosen = store.records.get(rid).decision.chosen
    others = [label for label in ("APPROVE", "DECLINE", "REFER") if label != chosen]
    rita, csrf = site.session("rita", "10.12.0.1")
    assert rita.get(f"/api/records/{rid}").json()["override_choices"] == [*others, "no decision possible"]
    cases = [
        (chosen, "why", 400),
        (chosen.lower(), "why", 400),
        ("maybe later", "why", 400),
        ("no decision possible", "", 400),
        (others[0], "", 400),
        (others[0].lower(), "income not verified", 201),
        (others[1], "income not verified", 201),
        ("no decision possible", "the file is incomplete", 201),
    ]
    for decision, rationale, status in cases:
        with AuditStore.open(site.db) as store:
            latest = store.reviews.of_record(rid)
        body = {
            "action": "override",
            "decision": decision,
            "rationale": rationale,
            "based_on": latest[-1].id if latest else "",
        }
        before = site.events()
        api = rita.post(f"/api/records/{rid}/reviews", json=body, headers={"X-CSRF-Token": csrf})
        assert api.status_code == status, (decision, api.text)
        if status == 400:
            page = rita.post(f"/records/{rid}/reviews", data={**body, "csrf": csrf})
            assert page.status_code == 400 and api.json()["error"][:40] in page.text.replace("&#39;", "'")
            assert site.events() == before
        else:
            assert api.json()["decision"] in (*others, "no decision possible")
    page = rita.get(f"/records/{rid}").text
    assert f'<option value="{others[0]}">' in page and f'<option value="{chosen}">' not in page


# -- 11: the summary's integrity box -------------------------------------------------------------------
def test_the_summary_says_which_records_are_covered_whatever_was_logged_since(site, tiny_loaded, monkeypatch):
    from audit.integrity.signing import VerifyKey
    from audit.integrity.trust import Pins

    site.auditor.checkpoint()
    with AuditStore.open(site.db) as store:
        first = store.checkpoints.all()[0]
        records = store.records.count()
    pins = Pins((VerifyKey.from_raw_hex(first.public_key, "test pin"),), "test")
    monkeypatch.setattr(site.reviews.pages, "_pins", lambda: pins)
    viewer, _ = site.session(site.user("viewer"), "10.13.0.1")  # a login: an event after the checkpoint
    text = viewer.get("/summary?since=2000-01-01").text
    assert (
        f"Every record in this summary is covered by a checkpoint signed by a pinned key ({records} of {records})"
        in text
    )
    assert "events logged after seq" in text and "none of them one of these records" in text
    assert " 0 of the" not in text
    with one_torch_thread():
        site.auditor.with_model(tiny_loaded).generate(
            prompt="Summarise: rates fell.", max_new_tokens=2, use_case="news"
        )
    text = viewer.get("/summary?since=2000-01-01").text
    assert f"{records} of the {records + 1} records in this summary are covered" in text
    assert "the other 1 are recorded but not yet covered" in text
