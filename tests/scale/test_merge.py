"""Merging host databases: trusted, verified sources only; union with provenance, idempotent, archive verifies.

Every refusal leaves the archive byte-identical: an unsigned or untrusted shard, one whose checkpoints switch key,
one written by a newer llm-audit, one with an id that is not a UUIDv7, one holding a blob that expands too far.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from audit import Auditor
from audit.errors import UserError
from audit.integrity.verify import verify_database
from audit.scale.merge import SourceRefused, merge_databases
from audit.store import AuditStore
from tests.forge import backup, opened, rechain, shell, sign_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shards(tiny_loaded, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("shards")
    a, b = folder / "host-a.db", folder / "host-b.db"
    host_a = Auditor(db=a, model=tiny_loaded)
    first = host_a.generate(template="Income {income}. Approve?", variables={"income": "$42,000"}, max_new_tokens=3)
    host_a.generate(prompt="Summarise the filing.", max_new_tokens=2)
    host_a.explain(first.id, granularity="field")
    host_a.replay(first.id)
    host_b = Auditor(db=b, model=tiny_loaded)
    host_b.generate(prompt="Rate this bond.", max_new_tokens=2, use_case="risk-assessment")
    for host, db in ((host_a, a), (host_b, b)):
        host.checkpoint()
        host.signing.write_public(db.with_suffix(".pub.pem"))
    return a, b


def _trust(*dbs: Path) -> None:
    from audit.integrity.trust import TrustFile

    for db in dbs:
        TrustFile().add(db.with_suffix(".pub.pem"))


def _ids(db: Path) -> dict[str, list[str]]:
    with AuditStore.open(db) as store:
        return {
            "records": sorted(r.id for r in store.records.iter()),
            "explanations": sorted(e.id for e in store.explanations.list()),
            "replays": sorted(r.id for r in store.replays.iter()),
        }


def test_merge_gives_the_union_with_provenance_and_is_idempotent(shards, tmp_path):
    a, b = shards
    _trust(a, b)
    archive = tmp_path / "archive.db"
    result = merge_databases([a, b], archive, hosts=["pricing-1", "pricing-2"])
    assert result.archive_verified
    # merge and verify agree: the archive, a new log made here, was pinned to its own key at its first checkpoint
    assert verify_database(archive).ok and verify_database(archive).key_pinned
    got, want_a, want_b = _ids(archive), _ids(a), _ids(b)
    assert got == {k: sorted(want_a[k] + want_b[k]) for k in got}
    assert [s.added for s in result.sources] == [
        {"generation": 2, "explanation": 1, "replay": 1},
        {"generation": 1, "explanation": 0, "replay": 0},
    ]
    with AuditStore.open(a) as source, AuditStore.open(archive) as target:
        source_events = {e.subject_id: e for e in source.events.iter_chain()}
        first = source.records.iter().__next__()
        assert target.records.get(first.id).to_dict() | {"seq": 0} == first.to_dict() | {"seq": 0}
        for kind, subject_id in [
            ("generation", first.id),
            ("explanation", want_a["explanations"][0]),
            ("replay", want_a["replays"][0]),
        ]:
            origin = target.provenance.of(subject_id)
            logged = next(target.events.iter_chain(subject_id=subject_id))
            assert (origin.subject_kind, origin.source_host, origin.source_seq) == (
                kind,
                "pricing-1",
                source_events[subject_id].seq,
            )
            assert origin.source_payload_sha256 == source_events[subject_id].payload_sha256 == logged.payload_sha256
            assert origin.source_root_hash == result.sources[0].root_hash == verify_database(a).root_hash
            assert origin.source_events == verify_database(a).events
            assert origin.source_trust.startswith("signed by trusted key ") and origin.source_key_id
        assert [p.source_host for p in target.provenance.iter(source_host="pricing-2")] == ["pricing-2"]
        kinds = [e.kind for e in target.events.iter()]
        assert kinds.count("provenance") == 5 and kinds.count("generation") == 3
        assert target.events.count() == target.checkpoints.signed_size()  # the merge ends covered
    again = merge_databases([a, b], archive)
    assert [s.added for s in again.sources] == [{"generation": 0, "explanation": 0, "replay": 0}] * 2
    assert [s.skipped["generation"] for s in again.sources] == [2, 1]
    assert _ids(archive) == got and verify_database(archive).events == result.archive_events


def test_tampered_shard_is_refused_and_archive_left_untouched(shards, tmp_path, cli):
    a, b = shards
    _trust(a, b)
    tampered = tmp_path / "host-b.db"
    shutil.copy(b, tampered)
    shell(tampered, "UPDATE generations SET output_text = 'approved' ")
    archive = tmp_path / "archive.db"
    merge_databases([a], archive)
    before = archive.read_bytes()
    with pytest.raises(SourceRefused, match="does not verify"):
        merge_databases([a, tampered], archive)
    assert archive.read_bytes() == before
    refused = cli("merge", str(tampered), "-o", str(tmp_path / "new.db"))
    assert refused.returncode == 1 and refused.stderr.startswith("Error: source ") and refused.stderr.count("\n") == 1
    assert not (tmp_path / "new.db").exists()
    merged = cli("merge", str(a), str(b), "-o", str(archive), "--json")
    assert merged.returncode == 0, merged.stderr
    out = json.loads(merged.stdout)
    assert out["archive_verified"] and [s["host"] for s in out["sources"]] == ["host-a", "host-b"]
    assert [s["added"]["generation"] for s in out["sources"]] == [0, 1]


def _refused(sources: list[Path], archive: Path, match: str, exc=SourceRefused, **options) -> None:
    before = archive.read_bytes()
    with pytest.raises(exc, match=match):
        merge_databases(sources, archive, **options)
    assert archive.read_bytes() == before


def test_untrusted_or_unsigned_shards_are_refused_unless_allowed_and_then_recorded(shards, tmp_path):
    a, b = shards
    archive = tmp_path / "archive.db"
    _trust(a)
    merge_databases([a], archive)
    _refused([b], archive, "no checkpoint signed by a trusted key")  # signed, but its host's key is not trusted
    unsigned = backup(b, tmp_path / "unsigned.db")
    shell(unsigned, "DELETE FROM checkpoints", "DELETE FROM events WHERE kind = 'checkpoint'")
    _refused([unsigned], archive, "no checkpoint signed by a trusted key")
    allowed = merge_databases([unsigned], archive, allow_unsigned=True)
    assert allowed.archive_verified and allowed.sources[0].added["generation"] == 1
    with AuditStore.open(archive) as store:
        record_id = next(e.subject_id for e in store.events.iter(kind="generation") if e.seq > 4)
        origin = store.provenance.of(record_id)
    assert origin.source_trust == "unsigned (--allow-unsigned)" and origin.source_key_id is None
    # The dossier of the merged record says where it came from and never calls it verified.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
        out = Auditor(db=archive).report([record_id], tmp_path / "d.html", generated_at="2026-03-06T10:00:00Z")
    html = out.path.read_text()
    assert "Audit log integrity: verified" not in html and "Audit log integrity: unverified" in html
    assert "Provenance (merged from unsigned: unsigned (--allow-unsigned))" in html
    assert "under --allow-unsigned: no checkpoint of a trusted key covered it there" in html


def test_shard_whose_checkpoints_switch_key_is_refused(shards, tmp_path):
    a, _ = shards
    _trust(a)
    archive = tmp_path / "archive.db"
    merge_databases([a], archive)
    from audit.integrity.signing import create_key

    switched = backup(a, tmp_path / "switched.db")
    mallory = create_key(tmp_path / "mallory.key")
    sign_checkpoint(switched, mallory, "2026-03-01T00:00:00Z")
    _refused([switched], archive, "does not verify.*no key-transition")


def test_shard_of_a_newer_llm_audit_is_refused_with_exit_2(shards, tmp_path, cli):
    a, _ = shards
    _trust(a)
    archive = tmp_path / "archive.db"
    merge_databases([a], archive)
    newer = backup(a, tmp_path / "newer.db")
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO llm_audit_migrations VALUES ('reviews', 3, 'a future table', '2027-01-01')")
    _refused([newer], archive, r"newer llm-audit \(unknown here: reviews v3\)", exc=UserError)
    before = archive.read_bytes()
    done = cli("merge", str(newer), "-o", str(archive))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "upgrade llm-audit" in done.stderr
    assert archive.read_bytes() == before


def test_ids_that_are_not_uuid7_are_refused(shards, tmp_path):
    a, _ = shards
    archive = tmp_path / "archive.db"
    merge_databases([a], archive, allow_unsigned=True)
    for bad in ("../../etc/passwd", "<img src=x onerror=alert(1)>"):
        forged = backup(a, tmp_path / "forged.db")
        with opened(forged) as conn:
            (old,) = conn.execute("SELECT id FROM generations ORDER BY seq LIMIT 1").fetchone()
            for table, column in (("generations", "id"), ("explanations", "record_id"), ("replays", "record_id")):
                conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [bad, old])
            for row in conn.execute("SELECT seq, payload FROM events").fetchall():
                conn.execute("UPDATE events SET payload = ? WHERE seq = ?", [row[1].replace(old, bad), row[0]])
            conn.execute("UPDATE events SET subject_id = ? WHERE subject_id = ?", [bad, old])
        _rechain(forged)
        _refused([forged], archive, "is not a UUIDv7", allow_unsigned=True)
        forged.unlink()


def _rechain(db: Path) -> None:
    """Rebuild the chain without the writers' signatures (no key to redo them), then drop the checkpoints it no
    longer matches (and the last one's event)."""
    shell(db, "UPDATE events SET signature = NULL")
    rechain(db)
    shell(
        db,
        "DELETE FROM checkpoints",
        "DELETE FROM events WHERE kind = 'checkpoint' AND seq = (SELECT MAX(seq) FROM events)",
    )


def test_blob_that_expands_beyond_the_limit_is_refused_without_expanding_it(shards, tmp_path):
    import hashlib
    import zlib

    a, _ = shards
    archive = tmp_path / "archive.db"
    merge_databases([a], archive, allow_unsigned=True)
    bomb = backup(a, tmp_path / "bomb.db")
    packer = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    data = b"".join(packer.compress(zeros) for _ in range(600)) + packer.flush()  # 600 MiB of zeros in ~0.6 MB
    digest = hashlib.sha256(data).hexdigest()
    with opened(bomb) as conn:
        (old,) = conn.execute("SELECT seq_attr_sha256 FROM explanations LIMIT 1").fetchone()
        conn.execute("INSERT INTO blobs VALUES (?, 'float32', '1', 4, ?)", [digest, data])
        conn.execute("UPDATE explanations SET seq_attr_sha256 = ?", [digest])
        for row in conn.execute("SELECT seq, payload FROM events WHERE kind = 'explanation'").fetchall():
            conn.execute("UPDATE events SET payload = ? WHERE seq = ?", [row[1].replace(old, digest), row[0]])
    _rechain(bomb)
    _refused([bomb], archive, "expands beyond 536,870,912 bytes", allow_unsigned=True)
    from audit.store.blobs import BlobTooLarge, decode_array

    with pytest.raises(BlobTooLarge):  # reading it anywhere else is capped too, never a MemoryError
        decode_array(data, limit=64 << 20)
