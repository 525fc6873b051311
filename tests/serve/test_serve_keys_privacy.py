"""API keys from the command line, and a served completion under a privacy policy.

``keys add`` prints the key once (stdout holds only the key, so ``KEY=$(llm-audit keys add NAME)``
works) and stores its hash; ``keys list`` never shows it; ``serve`` refuses to start without a
key. Under a policy a served record is redacted and sealed exactly as ``Auditor.generate`` seals
it, the client's own metadata included, while the client receives the clear answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import Auditor, UserError
from audit.privacy.guard import SEALED_ID
from audit.serve.auth import UNKNOWN, KeyCheck
from audit.store import AuditStore
from tests.serve.serving import serve

pytestmark = pytest.mark.usefixtures("single_thread")
POLICY = Path(__file__).resolve().parents[2] / "examples" / "privacy" / "policy.toml"
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"


def test_a_kept_key_answer_lasts_only_while_the_keys_are_unchanged(cli, tmp_path):
    """The event loop reuses a key's answer without the full check only until a key is added or revoked anywhere
    (here by another process, the CLI): a revoked key is refused from the next request on."""
    db = tmp_path / "keys.db"
    auditor = Auditor(db=db)
    teller, other = auditor.api_keys.add("teller"), auditor.api_keys.add("other")
    keys = KeyCheck(db)
    try:
        assert keys.kept(teller) is UNKNOWN  # nothing checked yet
        assert keys.holder(teller) == "teller" and keys.holder(other) == "other"
        assert keys.kept(teller) == "teller" and keys.kept(other) == "other"
        assert keys.kept("lla_" + "x" * 43) is UNKNOWN and keys.holder("lla_" + "x" * 43) is None  # never kept
        assert cli("keys", "revoke", "teller", "--db", str(db)).returncode == 0
        assert keys.kept(teller) is UNKNOWN and keys.kept(other) is UNKNOWN  # the table changed: all re-checked
        assert keys.holder(teller) is None and keys.kept(teller) is UNKNOWN
        assert keys.holder(other) == "other" and keys.kept(other) == "other"
        third = cli("keys", "add", "teller", "--db", str(db)).stdout.strip()  # a new key under the same name
        assert keys.kept(other) is UNKNOWN and keys.holder(third) == "teller" and keys.holder(teller) is None
    finally:
        keys.close()


def test_keys_are_printed_once_stored_hashed_listed_and_revoked(cli, tmp_path):
    db = tmp_path / "keys.db"
    refused = cli("serve", "--db", str(db))
    assert refused.returncode == 2 and "no API key in force" in refused.stderr and "keys add" in refused.stderr
    added = cli("keys", "add", "loan-app", "--db", str(db))
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("lla_") and len(key) == 47 and "shown only now" in added.stderr
    assert key.encode() not in db.read_bytes() and key[10:].encode() not in db.read_bytes()
    revoked = cli("keys", "revoke", "loan-app", "--reason", "rotated", "--db", str(db))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    listed = json.loads(cli("keys", "list", "--db", str(db), "--json").stdout)["keys"]
    assert [(k["name"], k["status"], k["key_prefix"]) for k in listed] == [("loan-app", "revoked", key[:10])]
    keys = Auditor(db=db).api_keys  # the rest through the API the commands call
    assert keys.authenticate(key) is None
    with pytest.raises(UserError, match="has no key in force"):
        keys.revoke("loan-app")
    with pytest.raises(UserError, match="not usable"):
        keys.add("bad name!")
    again = keys.add("loan-app")
    with pytest.raises(UserError, match="already has a key in force"):
        keys.add("loan-app")
    assert keys.authenticate(again) == "loan-app" and keys.authenticate(key) is None
    result = Auditor(db=db).verify()
    assert result.ok and result.events == result.projected == 3


def test_a_served_record_under_a_policy_is_sealed_and_the_client_gets_the_clear_answer(tiny_loaded, tmp_path):
    db = tmp_path / "private.db"
    template = "Customer {customer_id}, card {card}. Approve?"
    variables = {"customer_id": "C-1042", "card": CARD}
    with serve(db, tiny_loaded, model_name="tiny", policy=POLICY) as server:
        response = server.openai().chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": template.format(**variables)}],
            max_tokens=4,
            metadata={"contact": EMAIL, "llm_audit.use_case": "credit-decision"},
            extra_body={"llm_audit": {"template": template, "variables": variables}},
        )
        record_id = response.model_extra["llm_audit"]["record_id"]
        clear = server.auditor.get(record_id, clear=True)
        assert response.choices[0].message.content == clear.output_text
        assert clear.variables == variables and clear.tags["content"]["metadata"] == {"contact": EMAIL}
        with AuditStore.open(db) as store:
            stored = store.records.get(record_id)
        assert stored.tags["privacy"]["sealed"] and set(stored.output_ids) == {SEALED_ID}
        assert stored.tags["content"]["metadata"]["contact"] == "[EMAIL_1]"
        assert stored.use_case == "credit-decision" and stored.tags["privacy"]["retention_class"] == "credit-decision"
        assert server.auditor.replay(record_id).verdict == "identical" and server.auditor.verify().ok
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("private.db"))
    for planted in (CARD, EMAIL, "C-1042"):
        assert planted.encode() not in files, planted
