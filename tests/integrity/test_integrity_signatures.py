"""Every event authenticated when written, and every pending spool entry signed by its writer.

Without the log's key an attacker can still compute a well-chained event at the tail (a forged
erasure tombstone, a hold release) or write a pending-journal file (a backdated sign-off, a fake
"identical" replay). Before 0.3 the operator's next routine checkpoint or ``append-pending``
signed such content into the log. Now each event carries the log key's signature when written:
``verify`` names the forged one at once, every checkpoint refuses to cover it, and
``append-pending`` refuses a file the log's key did not sign, appending nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import Auditor
from audit.spool import entries, keep
from audit.store import AuditStore
from tests.conftest import run_cli_in_process as cli
from tests.forge import append_event, backup

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def logged(tiny_loaded, tmp_path, monkeypatch) -> tuple[Auditor, str]:
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    auditor = Auditor(db=tmp_path / "audit.db", model=tiny_loaded)
    record = auditor.generate(prompt="Income 42000, score 580. Approve?", max_new_tokens=2)
    auditor.checkpoint()
    return auditor, record.id


@pytest.mark.parametrize(
    "kind, payload",
    [
        ("erasure", {"reason": "forged", "keys_destroyed": 1}),  # the dossier would say "Erased on ..."
        ("release", {"target": "record", "reason": "forged release of a legal hold"}),
    ],
)
def test_a_forged_tail_event_is_named_and_never_covered_by_the_next_checkpoint(logged, kind, payload):
    auditor, record_id = logged
    with AuditStore.open(auditor.db_path) as store:
        before = store.events.count()
    seq = append_event(auditor.db_path, kind, record_id, payload)
    assert seq == before + 1
    done = cli("verify", "--db", str(auditor.db_path))
    assert done.returncode == 1 and done.stdout.startswith(
        f"TAMPERED: seq {seq}: {kind} {record_id} carries no signature"
    )
    refused = cli("checkpoint", "--db", str(auditor.db_path))
    assert refused.returncode == 2 and f"event seq {seq} ({kind} {record_id}) carries no signature" in refused.stderr
    with AuditStore.open(auditor.db_path) as store:
        assert store.checkpoints.signed_size() == before  # nothing was signed
    assert auditor.verify().first_problem.check == "event-signature"


def test_a_signature_replaced_on_an_uncovered_event_is_named(logged):
    auditor, record_id = logged
    auditor.generate(prompt="Rates rose.", max_new_tokens=2)  # signed when written, not yet covered
    with AuditStore.open(auditor.db_path) as store:
        seq = store.events.count()
        other = store.events.signature_at(seq - 1)
    from tests.forge import shell

    shell(auditor.db_path, "UPDATE events SET signature = ? WHERE seq = ?", params=[other, seq])
    done = cli("verify", "--db", str(auditor.db_path))
    assert done.returncode == 1 and f"seq {seq}: generation" in done.stdout and "is not by the log's key" in done.stdout
    assert cli("checkpoint", "--db", str(auditor.db_path)).returncode == 2


def test_a_forged_or_altered_spool_entry_is_refused_and_nothing_is_appended(logged, tiny_loaded, tmp_path):
    auditor, _ = logged
    elsewhere = Auditor(db=tmp_path / "elsewhere.db", model=tiny_loaded)
    late = elsewhere.generate(prompt="Counterparty rated BB. Limit?", max_new_tokens=2)
    kept = keep(auditor.db_path, "generation", late, "the database was locked")  # by the writer: signed
    genuine = kept.read_text()
    assert json.loads(genuine)["signature"]["key_id"] == auditor.signing.info().key_id
    snapshot = backup(auditor.db_path, tmp_path / "before.db")

    def refused(document: dict) -> None:
        kept.write_text(json.dumps(document))
        done = cli("append-pending", "--db", str(auditor.db_path))
        assert done.returncode == 2 and f"{kept} is not signed by this log's key" in done.stderr, done.stderr
        with AuditStore.open(auditor.db_path) as store, AuditStore.open(snapshot) as was:
            assert store.events.count() == was.events.count()  # nothing appended

    altered = json.loads(genuine)
    altered["item"]["output_text"] = "APPROVED, fast track"
    refused(altered)
    unsigned = json.loads(genuine)
    del unsigned["signature"]
    refused(unsigned)
    kept.write_text(genuine)
    done = cli("append-pending", "--db", str(auditor.db_path), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["appended"][0]["status"] == "appended", done.stderr
    assert entries(auditor.db_path) == [] and auditor.verify(require_signed=True).ok
    assert Path(kept).exists() is False
