"""Merging host databases: verified sources only, union with provenance, idempotent, archive verifies."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from audit import Auditor
from audit.integrity.verify import verify_database
from audit.scale.merge import SourceRefused, merge_databases
from audit.store import AuditStore

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
    return a, b


def _ids(db: Path) -> dict[str, list[str]]:
    with AuditStore.open(db) as store:
        return {
            "records": sorted(r.id for r in store.records.iter()),
            "explanations": sorted(e.id for e in store.explanations.list()),
            "replays": sorted(r.id for r in store.replays.iter()),
        }


def test_merge_gives_the_union_with_provenance_and_is_idempotent(shards, tmp_path):
    a, b = shards
    archive = tmp_path / "archive.db"
    result = merge_databases([a, b], archive, hosts=["pricing-1", "pricing-2"])
    assert result.archive_verified and verify_database(archive).ok
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
        assert [p.source_host for p in target.provenance.iter(source_host="pricing-2")] == ["pricing-2"]
        kinds = [e.kind for e in target.events.iter()]
        assert kinds.count("provenance") == 5 and kinds.count("generation") == 3
    again = merge_databases([a, b], archive)
    assert [s.added for s in again.sources] == [{"generation": 0, "explanation": 0, "replay": 0}] * 2
    assert [s.skipped["generation"] for s in again.sources] == [2, 1]
    assert _ids(archive) == got and verify_database(archive).events == result.archive_events


def test_tampered_shard_is_refused_and_archive_left_untouched(shards, tmp_path, cli):
    a, b = shards
    tampered = tmp_path / "host-b.db"
    shutil.copy(b, tampered)
    conn = sqlite3.connect(tampered)
    conn.execute("DROP TRIGGER generations_append_only_update")
    conn.execute("UPDATE generations SET output_text = 'approved' ")
    conn.commit()
    conn.close()
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
