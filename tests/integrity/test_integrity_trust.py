"""Trust pinned per log: a healthy log is never TAMPERED because another log is pinned; copies can be signed.

The README's walk as a new user: a demo-like log whose key is pinned in the trust file, then a
new database made with ``llm-audit generate`` in the same home. Before 0.3 the pin of the first
log's key made every other log "TAMPERED"; now each log is pinned by its own origin (its first
checkpoint on this machine pins it, printed once), a log the trust file says nothing about is
UNPINNED, and TAMPERED means a pinned log signed by a key it did not hand over to.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit import Auditor
from audit.integrity.signing import create_key
from audit.integrity.trust import TrustFile
from audit.store import AuditStore
from tests.conftest import run_cli_in_process as cli

pytestmark = pytest.mark.usefixtures("single_thread")


def _origin(db: Path) -> str:
    with AuditStore.open(db) as store:
        return str(store.events.origin())


@pytest.fixture
def demo_like(tiny_loaded, tmp_path, monkeypatch) -> Path:
    """What `make demo` leaves: a log whose key is pinned in the trust file (the demo's key pin)."""
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    db = tmp_path / "demo.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    public = auditor.signing.write_public(tmp_path / "demo.db.pub.pem")  # the key, before anything is signed
    assert cli("trust", "add", str(public)).returncode == 0
    auditor.generate(prompt="Income 42000, score 580. Approve?", max_new_tokens=2)
    auditor.checkpoint()
    assert "verified against the pinned key" in cli("verify", "--db", str(db)).stdout
    return db


def test_a_new_database_in_the_same_home_is_never_tampered(demo_like, tiny_model_dir, tmp_path):
    new = tmp_path / "mine.db"
    made = cli("generate", "--db", str(new), "--model", str(tiny_model_dir), "--prompt", "Rates rose.")
    assert made.returncode == 0, made.stderr
    first = cli("verify", "--db", str(new))  # nothing signed yet: unpinned, said so, exit 0
    assert first.returncode == 0 and first.stdout.startswith("OK: ") and "UNPINNED" in first.stdout, first.stdout
    assert "TAMPERED" not in first.stdout
    signed = cli("checkpoint", "--db", str(new))
    assert signed.returncode == 0 and "pinned key" in signed.stderr and _origin(new) in signed.stderr
    done = cli("verify", "--db", str(new))
    assert done.returncode == 0 and "verified against the pinned key" in done.stdout, done.stdout
    assert "UNPINNED" not in done.stdout
    again = cli("checkpoint", "--db", str(new))
    assert "pinned key" not in again.stderr  # printed once, at the first checkpoint only
    assert cli("verify", "--db", str(demo_like)).returncode == 0  # and the demo log stays pinned


def test_a_log_the_trust_file_does_not_name_is_unpinned_and_says_why(demo_like, tmp_path, private_trust_file):
    other = tmp_path / "other.db"
    with AuditStore.open(other, write=True) as store:
        store.events.append("note", "n", {"i": 1})
    Auditor(db=other).checkpoint()
    private_trust_file.write_text(
        "".join(line + "\n" for line in private_trust_file.read_text().splitlines() if _origin(other) not in line)
    )
    done = cli("verify", "--db", str(other))
    assert done.returncode == 0 and "UNPINNED" in done.stdout and "pins other logs, not this one" in done.stdout


def test_a_pinned_log_signed_by_a_key_it_did_not_hand_over_to_is_tampered(demo_like, tmp_path):
    stranger = create_key(tmp_path / "stranger.key")
    TrustFile().add(Path(stranger.source), "stranger", _origin(demo_like))
    trust = [e for e in TrustFile().entries() if e.origin == _origin(demo_like)]
    assert [e.key_id for e in trust if e.key_id == stranger.key_id]
    # The demo log's own log pin (its first checkpoint) vouches for its key; remove it, keep only the stranger's.
    keep = [e for e in TrustFile().entries() if e.origin != _origin(demo_like) or e.key_id == stranger.key_id]
    TrustFile()._write([e for e in keep if e.origin is not None])  # noqa: SLF001 - a hand-edited trust file
    done = cli("verify", "--db", str(demo_like))
    assert done.returncode == 1 and "no checkpoint of this log is signed by the pinned key" in done.stdout


def test_a_copied_database_can_be_signed_and_verifies(demo_like, tmp_path):
    copy = tmp_path / "validator" / "copy.db"
    copy.parent.mkdir()
    shutil.copy(demo_like, copy)
    signed = cli("checkpoint", "--db", str(copy))  # its key is found by the log, not by the file's path
    assert signed.returncode == 0, signed.stderr
    assert "verified against the pinned key" in cli("verify", "--db", str(copy)).stdout
