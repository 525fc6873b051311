"""The workspace's evidence-pack export over a real HTTP client: every role against the API and the records
page's button, the download, the pack verified offline, the export logged with who and which list."""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest

from audit import Auditor
from audit.pack import verifier as standalone
from audit.privacy.keystore import default_key_store_path
from audit.review.roles import ROLES, Principal
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.web.background import BackgroundServer
from tests.pack.case import PASSWORD, build_pack_case

USERS = {"vera": "viewer", "rita": "reviewer", "val": "validator", "ada": "admin"}
MAY_EXPORT = {"validator", "admin"}


@pytest.fixture(scope="module")
def ws(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack-ui")
    (folder / "case").mkdir()
    case = build_pack_case(tiny_loaded, folder / "case")
    db = folder / "audit.db"
    shutil.copy(case.db, db)
    shutil.copy(default_key_store_path(case.db), default_key_store_path(db))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_SIGNING_KEY", str(case.signing_key))
        auditor = Auditor(db=db, model=tiny_loaded, policy=case.policy)
        admin = Principal("root", "admin", "cli")
        for name, role in USERS.items():
            if name not in ("rita", "val"):  # the case made these two
                auditor.reviews.accounts.add(admin, name, role, PASSWORD)
        with BackgroundServer(create_app(auditor.reviews)) as server:
            yield server.url, case, db


def login(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    done = client.post("/login", data={"csrf": token, "name": name, "password": PASSWORD, "next": "/queue"})
    assert done.status_code == 303, done.text
    return client, client.get("/api/me").json()["csrf"]


def exports(db) -> list[dict]:
    with AuditStore.open(db) as store:
        return [e.payload for e in store.events.iter(kind="export")]


@pytest.mark.parametrize("name", list(USERS))
def test_every_role_against_the_export_api_and_the_download(ws, name, tmp_path):
    url, case, db = ws
    client, csrf = login(url, name)
    before = len(exports(db))
    made = client.post("/api/exports", json={"use_case": "credit-decision"}, headers={"X-CSRF-Token": csrf})
    if USERS[name] not in MAY_EXPORT:
        assert made.status_code == 403 and "export evidence packs" in made.json()["error"]
        assert len(exports(db)) == before
        return
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["records"] == 3 and body["download"] == f"/api/exports/{body['pack_id']}.zip"
    zipped = client.get(body["download"])
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    (tmp_path / "pack.zip").write_bytes(zipped.content)
    result = standalone.verify_pack(tmp_path / "pack.zip", [standalone.load_pem(case.public_key)])
    assert result.ok, result.problems
    logged = exports(db)[-1]
    assert logged["exporter"] == f"{name} ({USERS[name]}, via web)" and logged["role"] == USERS[name]
    assert logged["request"] == {"workspace_list": {"use_case": "credit-decision"}}
    assert sorted(logged["selection"]["ids"]) == sorted(case.credit)
    others, _ = login(url, "rita")
    assert others.get(body["download"]).status_code == 403  # a reviewer may not fetch it either
    assert httpx.get(url + body["download"]).status_code == 401


def test_the_records_page_button_exports_the_list_it_shows(ws, tmp_path):
    url, case, db = ws
    val, csrf = login(url, "val")
    page = val.get("/records", params={"use_case": "news-summary"}).text
    assert 'action="/records/export"' in page and 'name="use_case" value="news-summary"' in page
    rita, _ = login(url, "rita")
    assert 'action="/records/export"' not in rita.get("/records").text
    forged = val.post("/records/export", data={"use_case": "news-summary"})
    assert forged.status_code == 403  # no CSRF token: refused, nothing exported
    done = val.post("/records/export", data={"csrf": csrf, "use_case": "news-summary"})
    assert done.status_code == 303 and done.headers["location"].startswith("/api/exports/")
    zipped = val.get(done.headers["location"])
    (tmp_path / "news.zip").write_bytes(zipped.content)
    result = standalone.verify_pack(tmp_path / "news.zip", [standalone.load_pem(case.public_key)])
    assert result.ok and any(f"ids=['{case.news}']" in p for p in result.proven)
    assert val.get("/api/exports/not-a-pack.zip").status_code == 404
    assert val.get("/api/exports/01a2fffe-0000-7000-8000-00000000beef.zip").status_code == 404
    empty = val.post("/api/exports", json={"use_case": "no-such-use"}, headers={"X-CSRF-Token": csrf})
    assert empty.status_code == 400 and "no record is in this list" in json.dumps(empty.json())


def test_roles_ladder_names_the_export_permission():
    from audit.review.roles import EXPORT_PACK, allowed

    assert [r for r in ROLES if allowed(r, EXPORT_PACK)] == sorted(MAY_EXPORT, key=ROLES.index)
