"""Evidence packs: export then verify-pack as a user runs them, what a pack holds against the database,
Parquet against JSON Lines, the one write an export makes, and the refusals before anything is written."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import Auditor
from audit.errors import UserError
from audit.integrity.canonical import canonical_bytes
from audit.integrity.merkle import MerkleTree
from audit.integrity.signing import create_key
from audit.pack import ExportOptions, Selection
from audit.pack.verifier import split_line
from audit.privacy.keystore import default_key_store_path
from audit.store import AuditStore
from tests.forge import shell
from tests.pack.case import build_pack_case, resign


@pytest.fixture(scope="module")
def case(tiny_loaded, tmp_path_factory):
    return build_pack_case(tiny_loaded, tmp_path_factory.mktemp("pack-case"))


@pytest.fixture
def db(case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the case's database, signed with the case's key (keys are found by database path)."""
    monkeypatch.setenv("LLM_AUDIT_SIGNING_KEY", str(case.signing_key))
    copy = tmp_path / "audit.db"
    shutil.copy(case.db, copy)
    shutil.copy(default_key_store_path(case.db), default_key_store_path(copy))  # the sealed records' keys
    return copy


def export(db: Path, output: Path, **options) -> object:
    names = ("use_case", "since", "until", "decision", "reviewed", "ids", "ids_file")
    selection = Selection.build(**{k: options.pop(k) for k in list(options) if k in names})
    return Auditor(db=db).export(ExportOptions(output, selection, **options))


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def tables(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def cosign(note: str, name: str, key: Ed25519PrivateKey) -> tuple[str, str]:
    """A C2SP tlog-cosignature/v1 line on ``note`` by a witness, and that witness's verifier key."""
    body = note.partition("\n\n")[0] + "\n"
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_hash = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    stamp = int(time.time())
    signature = key.sign(f"cosignature/v1\ntime {stamp}\n{body}".encode())
    line = f"\u2014 {name} {base64.b64encode(key_hash + stamp.to_bytes(8, 'big') + signature).decode()}\n"
    vkey = f"{name}+{key_hash.hex()}+" + base64.b64encode(b"\x04" + public).decode()
    return note + line, vkey


def test_cli_round_trip_proves_the_pack_and_says_what_it_does_not(cli, case, db, tmp_path):
    made = cli("export", "--db", str(db), "--use-case", "credit-decision", "-o", str(tmp_path / "pack"), "--zip")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Exported 3 records (8 events;")
    for target in ("pack", "pack.zip"):
        checked = cli("verify-pack", str(tmp_path / target), "--key", str(case.public_key))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        first, *rest = checked.stdout.splitlines()
        assert first.startswith("PROVEN: the pack was signed by the pinned key")
        assert (
            "  - 3 records match the selection (use_case=credit-decision) and each is in the pack with its events"
            in rest
        )
        assert "NOT PROVEN by this pack:" in rest and "--prove-exclusions" in checked.stdout
    as_json = cli(
        "verify-pack",
        str(tmp_path / "pack"),
        "--key",
        str(case.public_key),
        "--json",
        "--junit",
        str(tmp_path / "j.xml"),
    )
    assert json.loads(as_json.stdout)["ok"] is True and 'failures="0"' in (tmp_path / "j.xml").read_text()
    unpinned = cli("verify-pack", str(tmp_path / "pack"))
    assert unpinned.returncode == 2 and "no pinned key: pass --key" in unpinned.stderr


def test_pack_holds_exactly_the_records_and_every_event_about_them(case, db, tmp_path):
    result = export(db, tmp_path / "pack", use_case="credit-decision")
    pack = tmp_path / "pack"
    exported = [split_line(line) for line in lines(pack / "records/events.jsonl")]
    for name in ("records/events.jsonl", "log/index.jsonl", "records/blobs.jsonl"):  # each line its RFC 8785 form
        assert all(canonical_bytes(json.loads(line)).decode() == line for line in lines(pack / name)), name
    with AuditStore.open(db) as store:
        size = result.tree_size
        stored = {e.seq: e for e in store.events.iter_chain() if e.seq <= size}
        tree = MerkleTree(bytes.fromhex(e.leaf_hash) for e in stored.values())
        root = store.checkpoints.latest().root_hash  # the export event came after the checkpoint
    assert tree.root().hex() == root
    kinds = sorted(event["kind"] for event, _, _ in exported)
    assert kinds == ["attention", "explanation", "generation", "generation", "generation", "replay", "review", "review"]
    for event, payload, data in exported:
        logged = stored[event["seq"]]
        assert payload == json.loads(logged.payload)
        assert data.decode() == logged.payload and hashlib.sha256(data).hexdigest() == logged.payload_sha256
        assert event["inclusion_path"] == [h.hex() for h in tree.inclusion_proof(event["seq"] - 1)]
    records = {p["id"] for e, p, _ in exported if e["kind"] == "generation"}
    assert records == set(case.credit)
    about = {p.get("record_id") for e, p, _ in exported if e["kind"] != "generation"}
    assert about <= records and case.credit[0] in about  # the explanation
    blobs = {json.loads(line)["sha256"] for line in lines(pack / "records/blobs.jsonl")}
    referenced = {d for e, _, _ in exported for d in e["blobs"]}
    assert blobs == referenced and len(blobs) >= 3  # the explanation's and the attention maps' arrays
    index = [json.loads(line) for line in lines(pack / "log/index.jsonl")]
    assert [i["seq"] for i in index] == list(range(1, size + 1))
    assert all(i["payload_sha256"] == stored[i["seq"]].payload_sha256 for i in index)
    manifest = json.loads((pack / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((pack / name).read_bytes()).hexdigest() == entry["sha256"]
    assert sorted(p.name for p in (pack / "reports/dossiers").iterdir()) == sorted(f"{r}.html" for r in case.credit)


def test_erased_and_sealed_records_are_exported_as_logged_with_their_tombstone(case, db, tmp_path):
    export(db, tmp_path / "pack", use_case="general", prove_exclusions=True)
    exported = [split_line(line) for line in lines(tmp_path / "pack/records/events.jsonl")]
    kinds = [(e["kind"], e["subject_id"]) for e, _, _ in exported]
    assert ("erasure", case.erased) in kinds and ("generation", case.sealed_kept) in kinds
    assert [k for k, _ in kinds].count("hold") == 1 and [k for k, _ in kinds].count("release") == 1
    text = (tmp_path / "pack/records/events.jsonl").read_text()
    assert "5555" not in text and "378282246310005" not in text  # sealed content stays ciphertext
    result = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key])
    assert result.ok and any("no other of the 6 records in the log matches it" in p for p in result.proven)


def test_parquet_and_json_lines_give_the_same_records(db, tmp_path):
    import pyarrow.parquet as pq

    export(db, tmp_path / "pack", use_case="credit-decision")
    pack = tmp_path / "pack"
    exported = [split_line(line) for line in lines(pack / "records/events.jsonl")]
    events = pq.read_table(pack / "records/events.parquet").to_pylist()
    assert [(r["seq"], r["kind"], r["payload"]) for r in events] == [
        (e["seq"], e["kind"], d.decode()) for e, _, d in exported
    ]
    records = pq.read_table(pack / "records/records.parquet").to_pylist()
    generations = [p for e, p, _ in exported if e["kind"] == "generation"]
    assert len(records) == len(generations) == 3
    store = AuditStore.open(db)
    for row, payload in zip(records, generations):
        stored = store.records.get(payload["id"])  # the store's one reader, for the values held by reference
        by_reference = {
            "environment": stored.environment.to_dict(),
            "output_ids": stored.output_ids,
            "token_logprobs": stored.token_logprobs,
            "top_logprobs": [[dataclasses.asdict(alt) for alt in step] for step in stored.top_logprobs],
        }
        for name, value in payload.items():
            shown = json.loads(row[name]) if isinstance(value, dict | list) else row[name]
            if isinstance(value, dict) and set(value) == {"blob"}:
                assert name in by_reference and shown == by_reference[name], name
                assert value["blob"] in {json.loads(line)["sha256"] for line in lines(pack / "records/blobs.jsonl")}
            else:
                assert shown == value, name
    store.close()
    assert {"environment", "top_logprobs"} <= {
        k for k, v in generations[0].items() if isinstance(v, dict) and "blob" in v
    }


def test_export_writes_nothing_but_its_one_logged_event(case, db, tmp_path):
    before = tables(db)
    result = export(db, tmp_path / "pack", decision=None, reviewed=True, exporter="val (validator)")
    after = tables(db)
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    added = sorted(set(after["events"]) - set(before["events"]))
    assert set(before["events"]) <= set(after["events"]) and len(after["events"]) == len(before["events"]) + 1
    assert [row[1] for row in added] == ["export"]
    with AuditStore.open(db) as store:
        logged = store.exports.of_pack(result.pack_id)
    manifest = (tmp_path / "pack/manifest.json").read_bytes()
    assert logged["manifest_sha256"] == hashlib.sha256(manifest).hexdigest() == result.manifest_sha256
    assert logged["exporter"] == "val (validator)" and logged["selection"]["reviewed"] is True
    assert Auditor(db=db).verify().ok  # the export event is a correct link of the chain


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"use_case": "credit-decision", "reviewed": True}, "credit[1:]"),
        ({"use_case": "credit-decision", "reviewed": False}, "credit[:1]"),
        ({"ids": "news"}, "news"),
        ({"use_case": "news-summary", "since": "2000-01-01", "until": "2999-01-01"}, "news"),
    ],
)
def test_selections_are_what_the_verifier_re_applies(case, db, tmp_path, selection, expected):
    wanted = {"credit[1:]": case.credit[1:], "credit[:1]": case.credit[:1], "news": [case.news]}[expected]
    if selection.get("ids"):
        (tmp_path / "ids.txt").write_text(f"# requested\n{case.news[:13]}\n")
        selection = {"ids_file": tmp_path / "ids.txt"}
    export(db, tmp_path / "pack", prove_exclusions=True, **selection)
    statement = json.loads((tmp_path / "pack/records/completeness.json").read_text())
    assert statement["records"] == sorted(wanted)
    assert Auditor.verify_pack(tmp_path / "pack", key=[case.public_key]).ok


def test_consistency_from_an_earlier_checkpoint_and_witness_cosignatures(case, db, tmp_path):
    witness = Ed25519PrivateKey.generate()
    cosigned, vkey = cosign(case.newest_note.read_text(), "internal-audit", witness)
    (tmp_path / "witnessed.note").write_text(cosigned)
    export(
        db,
        tmp_path / "pack",
        use_case="credit-decision",
        since_checkpoint=case.early_note,
        witnessed=tmp_path / "witnessed.note",
    )
    result = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key], witnesses=[vkey], need_witnesses=1)
    assert result.ok, result.problems
    assert any("extends the earlier checkpoint" in p for p in result.proven)
    assert any("witnesses internal-audit cosigned" in p for p in result.proven)
    unpinned = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key])
    assert unpinned.ok and any("internal-audit: not checked" in p for p in unpinned.not_proven)
    other, _ = cosign(case.newest_note.read_text(), "internal-audit", Ed25519PrivateKey.generate())
    wrong = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key], witnesses=[_vkey_of(other)], need_witnesses=1)
    assert not wrong.ok and "witness" in wrong.problems[0][1]


def _vkey_of(cosigned_note: str) -> str:
    """The verifier key of the witness whose cosignature ends ``cosigned_note`` can't be read back from it; a fresh
    key of the same name stands for 'another witness key pinned' (its key hash will not match the pack's line)."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_hash = hashlib.sha256(b"internal-audit\n\x04" + key).digest()[:4]
    return f"internal-audit+{key_hash.hex()}+" + base64.b64encode(b"\x04" + key).decode()


def test_export_refuses_before_writing_anything(case, db, tmp_path):
    cases = [
        (dict(use_case="no-such-use"), "no record of the log"),
        (dict(until="2000-01-01", since="2001-01-01"), "is not after --since"),
        (dict(since="yesterday"), "not an ISO 8601"),
        (dict(ids_file=tmp_path / "missing.txt"), "cannot read the ids file"),
        (dict(use_case="credit-decision", since_checkpoint=case.db), "not a text checkpoint|not a signed note"),
        (dict(use_case="credit-decision", witnessed=case.early_note), "a note of another checkpoint"),
        (dict(use_case="credit-decision", witnessed=case.newest_note), "carries no witness cosignature line"),
    ]
    before = tables(db)
    for options, message in cases:
        with pytest.raises(UserError, match=message):
            export(db, tmp_path / "pack", **options)
        assert not (tmp_path / "pack").exists() and tables(db) == before
    (tmp_path / "pack").mkdir()
    with pytest.raises(UserError, match="already exists"):
        export(db, tmp_path / "pack", use_case="credit-decision")


def _edit_generation(db: Path, tmp_path: Path) -> dict:
    shell(db, "UPDATE generations SET output_text = output_text || ' approved' WHERE rowid = 1")
    return {}


def _another_pinned_key(db: Path, tmp_path: Path) -> dict:
    other = create_key(tmp_path / "other.key")
    (tmp_path / "other.pub.pem").write_text(other.public_pem())
    return {"key": [tmp_path / "other.pub.pem"]}


@pytest.mark.parametrize(
    "attack", [_edit_generation, _another_pinned_key], ids=["row edited", "signed by an unpinned key"]
)
def test_export_refuses_a_log_that_does_not_verify(db, tmp_path, attack):
    pins = attack(db, tmp_path)
    before = tables(db)
    with pytest.raises(UserError, match="the log does not verify .*nothing was exported"):
        Auditor(db=db).export(ExportOptions(tmp_path / "pack", Selection.build(use_case="credit-decision")), **pins)
    assert not (tmp_path / "pack").exists() and tables(db) == before


def test_verify_pack_pinned_by_the_trust_file_and_a_tampered_pack_by_the_cli(cli, case, db, tmp_path):
    export(db, tmp_path / "pack", use_case="credit-decision")
    assert (
        cli("trust", "add", str(case.public_key)).returncode == 0
    )  # the test's own trust file ($LLM_AUDIT_TRUST_FILE)
    assert cli("verify-pack", str(tmp_path / "pack")).returncode == 0
    summary = tmp_path / "pack" / "reports" / "summary.html"
    summary.write_bytes(summary.read_bytes() + b" ")
    done = cli("verify-pack", str(tmp_path / "pack"), "--junit", str(tmp_path / "j.xml"))
    assert done.returncode == 1 and not done.stderr
    assert done.stdout.splitlines()[0] == (
        "TAMPERED or INCOMPLETE: reports/summary.html does not match its SHA-256 in the signed manifest (the file was altered)"
    )
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()
    cannot = cli("verify-pack", str(tmp_path / "nothing-here"), "--json")
    assert cannot.returncode == 2 and "does not exist" in json.loads(cannot.stdout)["cannot_check"]


def test_sealed_content_is_opened_only_where_the_policy_lets_the_role_see_it(case, db, tmp_path):
    auditor = Auditor(db=db, policy=case.policy)
    general = Selection.build(use_case="general")
    before = tables(db)
    with pytest.raises(UserError, match="lets validator, admin see sealed content, not role 'reviewer'"):
        auditor.export(ExportOptions(tmp_path / "no", general, open_sealed=True, role="reviewer"))
    assert not (tmp_path / "no").exists() and tables(db) == before
    auditor.export(ExportOptions(tmp_path / "pack", general, open_sealed=True, role="validator"))
    opened = [json.loads(line) for line in lines(tmp_path / "pack/records/opened.jsonl")]
    assert [o["record_id"] for o in opened] == [case.sealed_kept]  # the erased record's key is gone: it stays sealed
    result = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key])
    assert result.ok and any(
        "sealed content of 1 records is disclosed and is exactly what was sealed" in p for p in result.proven
    )
    clear = {(c["record_id"], c["field"]): c["value"] for c in result.opened}
    assert clear[(case.sealed_kept, "generation")]["variables"]["card"] == "378282246310005"
    with AuditStore.open(db) as store:
        logged = [e for e in store.events.iter(kind="export")][-1].payload
    assert logged["opened"] == [case.sealed_kept] and logged["role"] == "validator"
    assert "378282246310005" not in (tmp_path / "pack/records/events.jsonl").read_text()  # the log's ciphertext
    entry = opened[0] | {"data_key": base64.b64encode(bytes(32)).decode()}
    (tmp_path / "pack/records/opened.jsonl").write_text(canonical_bytes(entry).decode() + "\n")
    resign(tmp_path / "pack", case.signing_key)
    wrong = Auditor.verify_pack(tmp_path / "pack", key=[case.public_key])
    assert (
        not wrong.ok
        and f"the data key given for {case.sealed_kept} does not open its logged generation" in wrong.problems[0][1]
    )


def test_records_after_the_newest_checkpoint_are_left_out_and_said_so(case, db, tmp_path, tiny_loaded):
    late = Auditor(db=db, model=tiny_loaded).generate(
        prompt="Income 1, score 1. Approve?", use_case="credit-decision", max_new_tokens=2
    )
    result = export(db, tmp_path / "pack", use_case="credit-decision")
    assert result.records == 3 and result.after_checkpoint == 1
    assert (
        "1 newer events are after the checkpoint and not in it (run `llm-audit checkpoint`, then export again)"
        in result.summary()
    )
    assert late.id not in (tmp_path / "pack/records/completeness.json").read_text()
    assert Auditor.verify_pack(tmp_path / "pack", key=[case.public_key]).ok


def test_a_pack_whose_export_cannot_be_logged_is_withdrawn(db, tmp_path, monkeypatch):
    from audit.store.exports import ExportLog

    def locked(self, pack_id, payload):
        raise UserError("database is locked: try again")

    monkeypatch.setattr(ExportLog, "append", locked)
    before = tables(db)
    with pytest.raises(UserError, match="database is locked"):
        export(db, tmp_path / "pack", use_case="credit-decision", zipped=True)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("pack", ".pack"))]  # nor a staging folder
    assert tables(db) == before
