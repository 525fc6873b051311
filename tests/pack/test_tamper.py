"""Every tampering of a pack is refused by the standalone verifier: exit 1 (tampered or incomplete) or 2 (cannot
check), one named problem first, never a traceback. Generated over every file and every kind of change; the
"dishonest exporter" cases re-sign the manifest with the log's own key, so the deeper checks must catch them."""

from __future__ import annotations

import io
import json
import shutil
import stat
import zipfile
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from audit import Auditor
from audit.integrity.canonical import canonical_bytes
from audit.integrity.signing import create_key, load_signing_key
from audit.pack import ExportOptions, Selection
from audit.pack import verifier as standalone
from audit.pack.folder import PackFolder
from tests.pack.case import build_pack_case, resign


@pytest.fixture(scope="module")
def packs(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack-tamper")
    case = build_pack_case(tiny_loaded, folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_SIGNING_KEY", str(case.signing_key))
        auditor = Auditor(db=case.db)
        for name, selection, proven in (
            ("basic", Selection.build(use_case="credit-decision"), False),
            ("proven", Selection.build(use_case="credit-decision"), True),
            ("general", Selection.build(use_case="general"), True),
        ):
            auditor.export(ExportOptions(folder / name, selection, prove_exclusions=proven, zipped=name == "basic"))
    return case, folder


def check(pack: Path, key: Path, *extra: str) -> tuple[int, str]:
    """The standalone verifier's exit code and first line, run as ``python verifier/verify_pack.py`` runs it (in-process)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = standalone.main([str(pack), "--key", str(key), *extra])
    return code, out.getvalue().splitlines()[0]


def copy_of(packs, name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(packs[1] / name, target)
    return target


def test_intact_packs_verify(packs):
    case, folder = packs
    for name in ("basic", "proven", "general", "basic.zip"):
        assert check(folder / name, case.public_key)[0] == 0, name


def test_one_byte_changed_anywhere_in_any_file_is_refused(packs, tmp_path):
    """Every file of the pack at its first, middle and last byte, and every member of the zipped pack."""
    case, folder = packs
    files = sorted(p.relative_to(folder / "basic").as_posix() for p in (folder / "basic").rglob("*") if p.is_file())
    assert len(files) >= 15 and "manifest.sig" in files and "log/index.jsonl" in files
    table = []
    for name in files:
        size = (folder / "basic" / name).stat().st_size
        for at in sorted({0, size // 2, size - 2}):
            pack = copy_of(packs, "basic", tmp_path / f"{len(table)}")
            flip(pack / name, at)
            code, first = check(pack, case.public_key)
            table.append((name, at, code, first))
            assert code == 1 and first.startswith("TAMPERED"), (name, at, first)
    named = {first for _, _, _, first in table}
    assert any("manifest.json altered" in f for f in named) and any(
        "log/index.jsonl does not match" in f for f in named
    )
    with zipfile.ZipFile(folder / "basic.zip") as zf:
        members = [
            (i.filename, i.header_offset + 30 + len(i.filename.encode()) + len(i.extra), i.compress_size)
            for i in zf.infolist()
        ]
    assert len(members) == len(files)
    for name, start, size in members:
        archive = tmp_path / f"{len(table)}.zip"
        shutil.copy(folder / "basic.zip", archive)
        flip(archive, start + size // 2)
        code, first = check(archive, case.public_key)
        table.append((name, start, code, first))
        assert code in (1, 2) and first.startswith(("TAMPERED", "CANNOT CHECK")), (name, first)


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().split("\n") if line]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _drop_record(pack: Path, keep_out_of_excluded: bool) -> None:
    """Take the last credit record (and its events) out of the pack, and out of the completeness statement."""
    events = [standalone.split_line(line) for line in _lines(pack / "records/events.jsonl")]
    gone = [p["id"] for e, p, _ in events if e["kind"] == "generation"][-1]
    kept, dropped = [], []
    for line, (event, _, data) in zip(_lines(pack / "records/events.jsonl"), events):
        links = standalone.record_links(event["kind"], event["subject_id"], data.decode())
        (dropped if gone in links else kept).append(line)
    _write_lines(pack / "records/events.jsonl", kept)
    if not keep_out_of_excluded and (pack / "records/excluded.jsonl").exists():
        excluded = _lines(pack / "records/excluded.jsonl")
        for line in dropped:
            event, _, data = standalone.split_line(line)
            bare = {k: v for k, v in event.items() if k not in ("inclusion_path", "blobs")}
            excluded.append(standalone.event_line(canonical_bytes(bare).decode(), data.decode()))
        _write_lines(pack / "records/excluded.jsonl", excluded)
    statement = json.loads((pack / "records/completeness.json").read_text())
    statement["records"] = [r for r in statement["records"] if r != gone]
    statement["events"] = [standalone.split_line(line)[0]["seq"] for line in kept]
    (pack / "records/completeness.json").write_text(json.dumps(statement))


def _edit_line(pack: Path, name: str, index: int, edit: Callable[[str], str]) -> None:
    lines = _lines(pack / name)
    lines[index] = edit(lines[index])
    _write_lines(pack / name, lines)


def _alter_proof(line: str) -> str:
    event, _, data = standalone.split_line(line)
    path = event["inclusion_path"]
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    return standalone.event_line(canonical_bytes(event).decode(), data.decode())


def _add_file(pack: Path, case=None) -> None:
    (pack / "records/extra.jsonl").write_text("{}\n")


def _other_key(pack: Path, case=None) -> None:
    key = create_key(pack.parent / "other.key")
    manifest = json.loads((pack / "manifest.json").read_text())
    folder = PackFolder.__new__(PackFolder)
    folder.staging, folder.files = pack, manifest.pop("files")
    folder.seal(manifest, key)


def _drop_kind(kind: str):
    def drop(pack: Path, case=None) -> None:
        kept = [
            line for line in _lines(pack / "records/events.jsonl") if standalone.split_line(line)[0]["kind"] != kind
        ]
        _write_lines(pack / "records/events.jsonl", kept)
        statement = json.loads((pack / "records/completeness.json").read_text())
        statement["events"] = [standalone.split_line(line)[0]["seq"] for line in kept]
        (pack / "records/completeness.json").write_text(json.dumps(statement))

    return drop


def _edit_index(pack: Path, case=None) -> None:
    _edit_line(pack, "log/index.jsonl", 2, lambda line: line.replace('"kind":"', '"kind":"x', 1))


def _edit_payload(pack: Path, case=None) -> None:
    _edit_line(
        pack, "records/events.jsonl", 0, lambda line: line.replace('"output_text":"', '"output_text":"APPROVE ', 1)
    )


def _checkpoint_root(pack: Path, case=None) -> None:
    cp = json.loads((pack / "log/checkpoint.json").read_text())
    cp["root_hash"] = "00" + cp["root_hash"][2:]
    (pack / "log/checkpoint.json").write_text(json.dumps(cp))


def _outside(pack: Path, case) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"]["../../etc/hostname"] = {"sha256": "0" * 64, "size": 1}
    folder = PackFolder.__new__(PackFolder)
    folder.staging, folder.files = pack, manifest.pop("files")
    folder.seal(manifest, load_signing_key(case.signing_key))


# (tampering, pack, change, re-signed by the log's key?, expected exit, words of the first line)
CASES = [
    ("a record removed (its lines deleted)", "basic", lambda p, c: _drop_record(p, True), False, 1, "does not match its SHA-256 in the signed manifest"),
    ("a record added (a line repeated)", "basic", lambda p, c: _edit_line(p, "records/events.jsonl", 0, lambda x: x + "\n" + x), False, 1, "does not match its SHA-256"),
    ("an inclusion proof altered", "basic", lambda p, c: _edit_line(p, "records/events.jsonl", 0, _alter_proof), False, 1, "does not match its SHA-256"),
    ("a file added", "basic", _add_file, False, 1, "'records/extra.jsonl' is in the pack but not in the signed manifest"),
    ("a dossier removed", "basic", lambda p, c: next((p / "reports/dossiers").iterdir()).unlink(), False, 1, "listed in the signed manifest but missing"),
    ("manifest re-signed with another key", "basic", _other_key, False, 1, "not by the pinned key"),
    ("inclusion proof altered, re-signed", "basic", lambda p, c: _edit_line(p, "records/events.jsonl", 0, _alter_proof), True, 1, "inclusion proof does not lead to the signed root"),
    ("record content edited, re-signed", "basic", _edit_payload, True, 1, "content does not hash to the logged event"),
    ("log index edited, re-signed", "basic", _edit_index, True, 1, "does not recompute to the root the checkpoint signs"),
    ("checkpoint root edited, re-signed", "basic", _checkpoint_root, True, 1, "is not validly signed by the pinned key"),
    ("a record moved to the excluded, re-signed", "proven", lambda p, c: _drop_record(p, False), True, 1, "matches the selection but is not in the pack"),
    ("a record removed entirely, re-signed", "proven", lambda p, c: _drop_record(p, True), True, 1, "neither exported nor disclosed"),
    ("a manifest naming a file outside the pack, re-signed", "basic", _outside, False, 1, "a path outside the pack"),
    ("an erasure tombstone removed, re-signed", "general", _drop_kind("erasure"), True, 1, "the erasure event of exported record"),
    ("a blob removed, re-signed", "basic", lambda p, c: _write_lines(p / "records/blobs.jsonl", _lines(p / "records/blobs.jsonl")[1:]), True, 1, "is not in the pack or not referenced by the event"),
    ("a legal hold on the data subject removed, re-signed", "general", _drop_kind("hold"), True, 1, "a legal hold on the data subject of an exported record is left out"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "name", "change", "resigned", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_tampering_is_named(packs, tmp_path, what, name, change, resigned, code, words):
    case, _ = packs
    pack = copy_of(packs, name, tmp_path)
    change(pack, case)
    if resigned:
        resign(pack, case.signing_key)
    found, first = check(pack, case.public_key)
    assert (found, words in first) == (code, True), first


def test_a_record_left_out_of_a_pack_without_disclosed_exclusions_is_stated_unproven(packs, tmp_path):
    """The honest limit: a key holder who drops a record and re-signs is caught only where exclusions are disclosed;
    without them the verifier says, in so many words, that this is not proven."""
    case, _ = packs
    pack = copy_of(packs, "basic", tmp_path)
    _drop_record(pack, True)
    resign(pack, case.signing_key)
    result = standalone.verify_pack(pack, [standalone.load_pem(case.public_key)])
    assert result.ok and any(
        "that none of the other 4 records of the log matches the selection" in p for p in result.not_proven
    )


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def test_unsafe_zips_are_refused_before_anything_is_extracted(packs, tmp_path):
    case, folder = packs
    link = zipfile.ZipInfo("pack/log")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("pack/records/events.jsonl", "w") as f,
    ):
        for _ in range(64):
            f.write(bytes(1 << 20))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    cases = {
        "traversal": (_zip(tmp_path / "t.zip", [("../../evil.txt", b"x"), ("pack/manifest.json", b"{}")]), "points outside the pack"),
        "absolute": (_zip(tmp_path / "a.zip", [("/tmp/evil.txt", b"x")]), "points outside the pack"),
        "symlink": (_zip(tmp_path / "s.zip", [(link, b"/etc")]), "is a symbolic link"),
        "bomb": (bomb, "a zip bomb"),
        "not a zip": (junk, "not a readable zip"),
    }  # fmt: skip
    for what, (archive, words) in cases.items():
        code, first = check(archive, case.public_key)
        assert (code, words in first) == (2, True), (what, first)
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_cannot_check_without_a_pinned_key_or_a_pack(packs, tmp_path):
    case, folder = packs
    (tmp_path / "empty").mkdir()
    (tmp_path / "not-a-key.pem").write_text("hello")
    assert check(tmp_path / "empty", case.public_key) == (
        2,
        f"CANNOT CHECK: {tmp_path / 'empty'} is not an llm-audit evidence pack (no manifest.json)",
    )
    assert check(folder / "basic", tmp_path / "not-a-key.pem")[0] == 2
    out = io.StringIO()
    with redirect_stdout(out):
        assert standalone.main([str(folder / "basic")]) == 2
    assert "no pinned key" in out.getvalue()
