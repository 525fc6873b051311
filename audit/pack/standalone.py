"""Check an llm-audit evidence pack offline: ``python standalone.py PACK --key KEY.pub.pem``.

One file, the standard library and ``cryptography`` only (no model, no database, no llm-audit):
a recipient can read all of it. ``llm-audit verify-pack`` imports this very module, so there is
one verifier. Exit 0: everything below is proven; 1: tampered or incomplete (the first problem
named); 2: cannot check (no pinned key, not a pack, an unsafe zip).

What is checked, in order: the manifest's Ed25519 signature against the pinned key; every file's
SHA-256 and size (and no file outside the manifest); the checkpoint's signature, and the C2SP note's
signature and witness cosignatures; the log index (one header per event of the log at the
checkpoint) recomputes, leaf by leaf through the hash chain, to the signed Merkle root; every
exported event's content hashes to its leaf, whose RFC 6962 inclusion proof leads to that root;
the consistency proof from an earlier checkpoint; and the completeness statement against the index.
It is longer than the 400 lines the project allows a module, on purpose: a recipient reads and runs
one file, and every check it makes is in it.

Exported events are lines ``{"event":{...},"payload":<payload>}`` in RFC 8785 form, "payload" last,
so the payload's bytes are the line's tail: the very bytes the log hashed. Hashing them needs no
second JSON canonicaliser here (a re-implementation of RFC 8785's number formatting would be a
second encoding that could disagree with the first); the index headers are strings only, which
``json``'s encoder writes exactly as RFC 8785 does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import stat
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "llm-audit-pack/v1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
CHECKPOINT, NOTE, INDEX, SINCE = "log/checkpoint.json", "log/checkpoint.note", "log/index.jsonl", "log/since.json"
OPENED = "records/opened.jsonl"
EVENTS, EXCLUDED, BLOBS, COMPLETENESS = (
    "records/events.jsonl",
    "records/excluded.jsonl",
    "records/blobs.jsonl",
    "records/completeness.json",
)
MANIFEST_CONTEXT = b"llm-audit pack manifest v1\n"
DOMAIN = b"llm-audit/event/v1"
DOMAIN_SIGNED = b"llm-audit/event/v2"
ORIGIN_PREFIX = "llm-audit/"
LINKED_BY_SUBJECT = ("generation", "erasure", "hold", "release")  # kinds whose header subject is the record id
MAX_FILES, MAX_TOTAL, MAX_RATIO = 200_000, 8 * 2**30, 200  # zip limits, checked before anything is extracted


class CannotCheck(Exception):
    """Exit 2: the pack cannot be checked at all (the message names why and what to do)."""


def manifest_message(manifest: bytes) -> bytes:
    return MANIFEST_CONTEXT + manifest


def signature_file(sig: dict[str, str]) -> bytes:
    """The exact bytes of ``manifest.sig``: so that every byte of it is checked, not only the parts parsed."""
    fields = {k: sig[k] for k in ("key_id", "public_key", "signature")}
    return (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def checkpoint_message(size: int, root_hex: str, signed_at: str) -> bytes:
    return f"llm-audit checkpoint v1\n{size}\n{root_hex}\n{signed_at}\n".encode("ascii")


def note_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def event_line(event_jcs: str, payload_jcs: str) -> str:
    """The one layout of exported event lines, from the RFC 8785 texts of the event and its payload."""
    return '{"event":' + event_jcs + ',"payload":' + payload_jcs + "}"


def split_line(line: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(event, payload, payload bytes as hashed) of an event line; ValueError if it is not one."""
    whole = json.loads(line)
    at = line.find(',"payload":')
    if not line.startswith('{"event":') or at < 0 or not line.endswith("}"):
        raise ValueError("not an event line")
    head, tail = line[len('{"event":') : at], line[at + len(',"payload":') : -1]
    if json.loads(head) != whole["event"] or json.loads(tail) != whole["payload"]:
        raise ValueError("the event line is not laid out as exported")
    return whole["event"], whole["payload"], tail.encode("utf-8")


def header_hash(created_at: str, kind: str, subject_id: str) -> bytes:
    members = (("created_at", created_at), ("kind", kind), ("subject_id", subject_id))
    text = "{" + ",".join(f'"{k}":{encode_basestring(str(v))}' for k, v in members) + "}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def leaf(seq: int, prev: bytes, payload_sha: bytes, header: bytes, signed: bool = False) -> bytes:
    """An event's leaf; ``signed``: it carries its writer's signature (since 0.3), which its domain commits to."""
    domain = DOMAIN_SIGNED if signed else DOMAIN
    return hashlib.sha256(b"\x00" + domain + header + seq.to_bytes(8, "big") + prev + payload_sha).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    stack: list[tuple[int, bytes]] = []
    for item in leaves:
        stack.append((1, item))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (n, right), (_, left) = stack.pop(), stack.pop()
            stack.append((2 * n, node(left, right)))
    if not stack:
        return hashlib.sha256(b"").digest()
    result = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        result = node(left, result)
    return result


def verify_inclusion(item: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, item
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == root


def verify_consistency(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and old == new
    if m == 0:
        return not proof
    if not proof:
        return False
    path = ([old] if m & (m - 1) == 0 else []) + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


def ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def load_pem(path: Path) -> bytes:
    """The raw Ed25519 public key of a PEM file (a public key, or a private one whose public half is taken)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CannotCheck(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise CannotCheck(f"{path} is not a PEM Ed25519 key: pass the log's public key (KEY.pub.pem)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CannotCheck(f"{path} is not an Ed25519 key: pass the log's public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def parse_vkey(text: str) -> tuple[str, bytes, bytes]:
    """A C2SP verifier key ``name+hexhash+base64(type||key)`` as (name, 4-byte key hash, raw key)."""
    try:
        name, hash_hex, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) != 33 or raw[0] not in (1, 4):
            raise ValueError
        return name, bytes.fromhex(hash_hex), raw[1:]
    except ValueError:
        raise CannotCheck(f"{text[:40]!r} is not a witness key (name+hash+base64 key)") from None


def match(query: dict[str, Any], record: dict[str, Any], reviewed: set[str]) -> bool:
    """Whether a generation payload matches the selection (the one predicate: the exporter uses it too)."""
    decision = record.get("decision") if isinstance(record.get("decision"), dict) else {}
    tests = (
        ("use_case", lambda v: record.get("use_case") == v),
        ("since", lambda v: str(record.get("started_at", "")) >= v),
        ("until", lambda v: str(record.get("started_at", "")) < v),
        ("decision", lambda v: decision.get("chosen") == v),
        ("reviewed", lambda v: (record.get("id") in reviewed) == v),
        ("ids", lambda v: record.get("id") in set(v)),
    )
    return all(test(query[name]) for name, test in tests if query.get(name) is not None)


_RECORD_ID = re.compile(r'"record_id":"((?:[^"\\]|\\.)*)"')
_RECORD_IDS = re.compile(r'"record_ids":(\[(?:"(?:[^"\\]|\\.)*"(?:,"(?:[^"\\]|\\.)*")*)?\])')


def record_links(kind: str, subject_id: str, payload_text: str) -> set[str]:
    """The record ids an event concerns: its subject for record-subject kinds, and every ``record_id`` (or
    ``record_ids``) its payload names at any depth (a fairness run names the records whose decision flipped).

    Read from the RFC 8785 text, where a key is always ``"name":`` with unescaped quotes (a quote inside a
    string is escaped), so a match is a real member at some depth, never text inside a string.
    """
    links = {subject_id} if kind in LINKED_BY_SUBJECT else set()
    links.update(json.loads(f'"{m}"') for m in _RECORD_ID.findall(payload_text))
    for found in _RECORD_IDS.findall(payload_text):
        links.update(json.loads(found))
    return links


def data_subject(record: dict[str, Any]) -> str | None:
    """The data-subject reference of a sealed generation payload (holds may name the subject, not the record)."""
    tags = record.get("tags") if isinstance(record.get("tags"), dict) else {}
    privacy = tags.get("privacy") if isinstance(tags.get("privacy"), dict) else {}
    return privacy.get("subject") if isinstance(privacy.get("subject"), str) else None


@dataclass
class Result:
    pack: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    not_proven: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)  # clear content of sealed fields, once authenticated

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, check: str, what: str) -> None:
        self.problems.append((check, what))

    def summary(self) -> str:
        if self.problems:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"TAMPERED or INCOMPLETE: {self.problems[0][1]}{more}"
        return "PROVEN: " + self.proven[0]

    def text(self) -> str:
        lines = [self.summary()]
        lines += [f"  also: {what}" for _, what in self.problems[1:10]]
        if self.ok:
            lines += [f"  - {p}" for p in self.proven[1:]] + ["NOT PROVEN by this pack:"]
            lines += [f"  - {p}" for p in self.not_proven]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        problems = [{"check": c, "problem": w} for c, w in self.problems]
        return {
            "pack": self.pack,
            "ok": self.ok,
            "problems": problems,
            "proven": self.proven,
            "not_proven": self.not_proven,
        }

    def junit(self) -> str:
        root = ET.Element("testsuites", name="llm-audit verify-pack")
        suite = ET.SubElement(root, "testsuite", name="verify-pack", tests=str(len(self.checks)))
        suite.set("failures", str(len({c for c, _ in self.problems})))
        for check in self.checks:
            case = ET.SubElement(suite, "testcase", name=check, classname="llm-audit.verify-pack")
            found = [w for c, w in self.problems if c == check]
            if found:
                ET.SubElement(case, "failure", message=found[0], type="tampered").text = "\n".join(found)
        return ET.tostring(root, encoding="unicode")


def safe_extract(archive: Path, into: Path) -> Path:
    """Extract a zipped pack after checking every entry: no absolute or ``..`` path, no link, no bomb."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_FILES:
                raise CannotCheck(f"{archive} holds {len(infos)} entries (limit {MAX_FILES}): refused unopened")
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
            worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > 2**20), default=0)
            if total > MAX_TOTAL or max(worst, total / packed) > MAX_RATIO:
                raise CannotCheck(
                    f"{archive} would expand to {total} bytes from {packed} ({total / packed:.0f}x): a zip bomb, refused unopened"
                )
            for info in infos:
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in info.filename or ":" in info.filename:
                    raise CannotCheck(f"{archive} entry {info.filename!r} points outside the pack: refused unopened")
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise CannotCheck(f"{archive} entry {info.filename!r} is a symbolic link: refused unopened")
            for info in infos:
                target = into / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    left = info.file_size
                    while chunk := src.read(1 << 20):
                        left -= len(chunk)
                        if left < 0:
                            raise CannotCheck(f"{archive} entry {info.filename!r} is larger than it declares: refused")
                        dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise CannotCheck(f"{archive} is not a readable zip ({exc})") from None
    tops = [p for p in into.iterdir()]
    return tops[0] if len(tops) == 1 and tops[0].is_dir() and not (into / MANIFEST).exists() else into


class Verifier:
    def __init__(self, root: Path, keys: list[bytes], witnesses: list[str], need_witnesses: int, result: Result):
        self.root, self.keys, self.result = root, keys, result
        self.witnesses = [parse_vkey(w) for w in witnesses]
        self.need_witnesses = need_witnesses

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError:
            raise ValueError(f"{name} is missing") from None

    def jsonl(self, name: str) -> list[str]:
        return [line for line in self.read(name).decode("utf-8").split("\n") if line]

    def run(self) -> None:
        r = self.result
        r.checks = [
            "manifest-signature",
            "files",
            "checkpoint",
            "witnesses",
            "index",
            "events",
            "opened",
            "consistency",
        ]
        r.checks.append("completeness")
        if not (self.root / MANIFEST).is_file():
            raise CannotCheck(f"{r.pack} is not an llm-audit evidence pack (no {MANIFEST})")
        steps = (self.manifest, self.checkpoint, self.index, self.events, self.opened, self.consistency)
        steps += (self.completeness,)
        for step in steps:
            try:
                step()
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, OSError) as exc:
                name = step.__name__
                r.fail(name, f"{name}: malformed content ({type(exc).__name__}: {exc})")
            if not r.ok:
                return

    def manifest(self) -> None:
        r = self.result
        raw = self.read(MANIFEST)
        try:
            text = self.read(SIGNATURE)
            sig = json.loads(text)
            public, signature = bytes.fromhex(sig["public_key"]), bytes.fromhex(sig["signature"])
            if text != signature_file(sig) or sig["key_id"] != key_id(public):
                raise ValueError("not as written by the exporter")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            r.fail("manifest-signature", f"the manifest's signature file is missing or malformed ({exc})")
            return
        if public not in self.keys:
            pinned = ", ".join(key_id(k) for k in self.keys)
            r.fail(
                "manifest-signature", f"the manifest is signed by key {key_id(public)}, not by the pinned key {pinned}"
            )
            return
        if not ed25519_ok(public, signature, manifest_message(raw)):
            r.fail(
                "manifest-signature", "the manifest's signature is not valid for its content (manifest.json altered)"
            )
            return
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            raise CannotCheck(
                f"pack format {manifest.get('format')!r} is not {FORMAT}: use the verifier of that version"
            )
        listed = manifest["files"]
        for name in listed:
            if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts or "\\" in name:
                r.fail("files", f"the manifest lists {name!r}, a path outside the pack")
                return
        on_disk = {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file() or p.is_symlink()}
        for name in sorted(on_disk - set(listed) - {MANIFEST, SIGNATURE}):
            r.fail("files", f"{name!r} is in the pack but not in the signed manifest (a file was added)")
        for name, entry in sorted(listed.items()):
            path = self.root / name
            if path.is_symlink() or not path.is_file():
                r.fail("files", f"{name} is listed in the signed manifest but missing (a file was removed)")
            elif (
                path.stat().st_size != entry["size"] or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]
            ):
                r.fail("files", f"{name} does not match its SHA-256 in the signed manifest (the file was altered)")
        n = len(listed)
        r.proven.append(f"the pack was signed by the pinned key {key_id(public)} and all {n} files match its manifest")
        r.proven.append(
            f"exported {manifest['created_at']} by {manifest['exporter']} with llm-audit {manifest['tool_version']}"
        )
        self.public, self.manifest_data = public, manifest

    def checkpoint(self) -> None:
        r = self.result
        cp = json.loads(self.read(CHECKPOINT))
        self.size, self.root_hash, self.origin = int(cp["tree_size"]), bytes.fromhex(cp["root_hash"]), cp["origin"]
        stated = (self.manifest_data["origin"], self.manifest_data["tree_size"])
        if stated != (self.origin, self.size):
            r.fail(
                "checkpoint",
                f"the manifest names log {stated[0]} at {stated[1]}, the checkpoint {self.origin} at {self.size}",
            )
            return
        if bytes.fromhex(cp["public_key"]) not in self.keys or not ed25519_ok(
            bytes.fromhex(cp["public_key"]),
            bytes.fromhex(cp["signature"]),
            checkpoint_message(self.size, cp["root_hash"], cp["signed_at"]),
        ):
            r.fail("checkpoint", f"checkpoint of tree size {self.size} is not validly signed by the pinned key")
            return
        text = self.read(NOTE).decode("utf-8")
        body, _, block = text.partition("\n\n")
        if body + "\n" != note_body(self.origin, self.size, self.root_hash):
            r.fail("checkpoint", "the C2SP checkpoint note does not state the checkpoint's origin, size and root")
            return
        lines = [line for line in block.split("\n") if line]
        cosigned, unchecked, own = set(), set(), False
        for line in lines:
            _, name, encoded = line.split(" ")
            raw = base64.b64decode(encoded, validate=True)
            if len(raw) == 68 and name == self.origin:
                own = own or ed25519_ok(self.public, raw[4:], (body + "\n").encode())
            elif len(raw) == 76:
                ts = int.from_bytes(raw[4:12], "big")
                message = f"cosignature/v1\ntime {ts}\n{body}\n".encode()
                known = [w for w in self.witnesses if w[0] == name and w[1] == raw[:4]]
                if not known:
                    unchecked.add(name)
                elif ed25519_ok(known[0][2], raw[12:], message):
                    cosigned.add(name)
                else:
                    r.fail("witnesses", f"the cosignature of witness {name} is not valid for this checkpoint")
        if not own:
            r.fail("checkpoint", "the C2SP checkpoint note carries no valid signature of the log's pinned key")
        if len(cosigned) < self.need_witnesses:
            r.fail(
                "witnesses",
                f"{self.need_witnesses} witness cosignatures required, {len(cosigned)} valid of pinned witnesses",
            )
        r.proven.append(
            f"log {self.origin} had {self.size} events with Merkle root {cp['root_hash'][:16]}… at the checkpoint "
            f"signed {cp['signed_at']} by the pinned key"
        )
        if cosigned:
            r.proven.append(f"witnesses {', '.join(sorted(cosigned))} cosigned that checkpoint (their pinned keys)")
        else:
            r.not_proven.append(
                "that anyone but the log's key holder saw this checkpoint: no pinned witness cosigned it"
            )
        if unchecked:
            r.not_proven.append(
                f"cosignatures of {', '.join(sorted(unchecked))}: not checked, no witness key pinned (--witness)"
            )

    def index(self) -> None:
        r = self.result
        self.headers: list[dict[str, Any]] = [json.loads(line) for line in self.jsonl(INDEX)]
        self.leaves: list[bytes] = []
        prev = bytes(32)
        for number, entry in enumerate(self.headers, start=1):
            if entry["seq"] != number:
                r.fail("index", f"the log index skips from seq {number - 1} to {entry['seq']} (an event was removed)")
                return
            h = header_hash(entry["created_at"], entry["kind"], entry["subject_id"])
            prev = leaf(number, prev, bytes.fromhex(entry["payload_sha256"]), h, bool(entry.get("signature")))
            self.leaves.append(prev)
        if len(self.leaves) != self.size or merkle_root(self.leaves) != self.root_hash:
            r.fail(
                "index",
                f"the log index ({len(self.leaves)} events) does not recompute to the root the checkpoint signs for {self.size} events",
            )
            return
        if not self.leaves or ORIGIN_PREFIX + self.leaves[0].hex()[:32] != self.origin:
            r.fail("index", f"the log index's first event does not give the origin {self.origin}")
            return
        r.proven.append(
            f"the pack's index lists every one of the {self.size} events of that log (kind, subject, time, content hash)"
        )

    def events(self) -> None:
        r = self.result
        blobs = {}
        for line in self.jsonl(BLOBS):
            entry = json.loads(line)
            if hashlib.sha256(base64.b64decode(entry["base64"])).hexdigest() != entry["sha256"]:
                r.fail("events", f"blob {entry['sha256'][:16]}… does not match its SHA-256")
            blobs[entry["sha256"]] = True
        self.exported: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for line in self.jsonl(EVENTS):
            event, payload, data = split_line(line)
            seq = int(event["seq"])
            if not self.check_event(event, data, seq):
                continue
            path = [bytes.fromhex(h) for h in event["inclusion_path"]]
            if not verify_inclusion(self.leaves[seq - 1], seq - 1, self.size, path, self.root_hash):
                r.fail("events", f"seq {seq}: the inclusion proof does not lead to the signed root")
            for digest in event.get("blobs", []):
                if digest not in blobs or digest not in data.decode("utf-8"):
                    r.fail(
                        "events", f"seq {seq}: blob {digest[:16]}… is not in the pack or not referenced by the event"
                    )
            if seq in self.exported:
                r.fail("events", f"seq {seq} is exported twice")
            self.exported[seq] = (event, payload)
        self.excluded: dict[int, tuple[dict[str, Any], dict[str, Any], str]] = {}
        if (self.root / EXCLUDED).is_file():
            for line in self.jsonl(EXCLUDED):
                event, payload, data = split_line(line)
                self.check_event(event, data, int(event["seq"]))
                self.excluded[int(event["seq"])] = (event, payload, data.decode("utf-8"))
        if r.ok:
            r.proven.append(
                f"{len(self.exported)} exported events are in that log: content hashes and inclusion proofs checked"
            )

    def check_event(self, event: dict[str, Any], data: bytes, seq: int) -> bool:
        """Whether ``seq`` is in the log at all; the event's content and header are checked against its index line."""
        if not 1 <= seq <= self.size:
            self.result.fail("events", f"seq {seq} is not in the log of {self.size} events at the checkpoint")
            return False
        entry = self.headers[seq - 1]
        if hashlib.sha256(data).hexdigest() != entry["payload_sha256"]:
            self.result.fail(
                "events",
                f"seq {seq} ({entry['kind']} {entry['subject_id']}): content does not hash to the logged event",
            )
        if any(event.get(k) != entry[k] for k in ("kind", "subject_id", "created_at")):
            self.result.fail("events", f"seq {seq}: kind, subject or time differ from the logged event")
        if event.get("leaf_hash") != self.leaves[seq - 1].hex():
            self.result.fail("events", f"seq {seq}: the leaf hash stated differs from the one the index recomputes")
        return True

    def opened(self) -> None:
        """Sealed records whose data keys the pack carries: each key must open (and GCM authenticate) every
        envelope the record's exported events hold, so the clear content is exactly what was sealed."""
        self.clear = self.result.opened
        if not (self.root / OPENED).is_file():
            return
        envelopes: dict[str, list[dict[str, str]]] = {}
        for event, payload in self.exported.values():
            privacy = (payload.get("tags") or {}).get("privacy") if event["kind"] == "generation" else None
            sealed = payload.get("sealed") if isinstance(payload.get("sealed"), dict) else None
            rid = payload.get("id") if privacy else payload.get("record_id")
            for envelope in (privacy or {}).get("envelope"), (sealed or {}).get("envelope"):
                if isinstance(envelope, dict):
                    envelopes.setdefault(rid, []).append(envelope)
        for line in self.jsonl(OPENED):
            entry = json.loads(line)
            rid, key = entry["record_id"], base64.b64decode(entry["data_key"])
            if not envelopes.get(rid):
                self.result.fail("opened", f"a data key is given for {rid}, which has no sealed content in the pack")
            for envelope in envelopes.get(rid, []):
                aad = f"llm-audit/seal/v1|{rid}|{envelope['field']}".encode()
                nonce, ciphertext = base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ciphertext"])
                try:
                    value = json.loads(AESGCM(key).decrypt(nonce, ciphertext, aad))
                except (InvalidTag, ValueError):
                    self.result.fail(
                        "opened", f"the data key given for {rid} does not open its logged {envelope['field']}"
                    )
                    continue
                self.clear.append({"record_id": rid, "field": envelope["field"], "value": value})
        if self.result.ok:
            self.result.proven.append(
                f"the sealed content of {len(set(c['record_id'] for c in self.clear))} records is disclosed and is exactly "
                f"what was sealed: {len(self.clear)} sealed fields open and authenticate (AES-256-GCM)"
            )

    def consistency(self) -> None:
        if not (self.root / SINCE).is_file():
            self.result.not_proven.append(
                "that this log extends one you saw before: no earlier checkpoint was named (--since-checkpoint)"
            )
            return
        since = json.loads(self.read(SINCE))
        old_size, old_root = int(since["tree_size"]), base64.b64decode(since["root"])
        body = note_body(since["origin"], old_size, old_root).encode()
        signed = any(ed25519_ok(k, base64.b64decode(s)[4:], body) for k in self.keys for s in since["signatures"])
        proof = [bytes.fromhex(h) for h in since["proof"]]
        if since["origin"] != self.origin or not signed:
            self.result.fail(
                "consistency",
                f"the earlier checkpoint (size {old_size}) is not of this log or not signed by the pinned key",
            )
        elif not verify_consistency(old_size, self.size, old_root, self.root_hash, proof) or (
            old_size and merkle_root(self.leaves[:old_size]) != old_root
        ):
            self.result.fail(
                "consistency",
                f"the log at {self.size} does not extend the earlier checkpoint of {old_size} (rewritten or forked)",
            )
        else:
            self.result.proven.append(
                f"the log extends the earlier checkpoint of {old_size} events (RFC 6962 consistency proof)"
            )

    def completeness(self) -> None:
        r = self.result
        statement = json.loads(self.read(COMPLETENESS))
        query = statement["query"]
        seen = {**{s: (e, p) for s, (e, p, _) in self.excluded.items()}, **self.exported}
        if statement["tree_size"] != self.size:
            r.fail(
                "completeness",
                f"the completeness statement is about tree size {statement['tree_size']}, not {self.size}",
            )
            return
        reviewed = {p.get("record_id") for e, p in seen.values() if e["kind"] == "review"}
        records = {p["id"]: seq for seq, (e, p) in self.exported.items() if e["kind"] == "generation"}
        for rid, seq in sorted(records.items()):
            if not match(query, self.exported[seq][1], reviewed):
                r.fail("completeness", f"record {rid} (seq {seq}) is in the pack but does not match the selection")
        if sorted(records) != sorted(statement["records"]) or sorted(self.exported) != statement["events"]:
            r.fail(
                "completeness", "the records or events of the pack differ from those its completeness statement lists"
            )
        proven_all = bool(statement.get("exclusions_disclosed"))
        subjects = {data_subject(self.exported[seq][1]) for seq in records.values()} - {None}
        for seq, entry in enumerate(self.headers, start=1):
            if seq in self.exported:
                continue
            if entry["kind"] in ("hold", "release") and entry["subject_id"] in subjects:
                r.fail(
                    "completeness",
                    f"seq {seq}: a legal {entry['kind']} on the data subject of an exported record is left out",
                )
            elif entry["kind"] in LINKED_BY_SUBJECT and entry["subject_id"] in records:
                r.fail(
                    "completeness",
                    f"seq {seq}: the {entry['kind']} event of exported record {entry['subject_id']} is left out",
                )
            elif seq in self.excluded:
                event, payload, text = self.excluded[seq]
                if entry["kind"] == "generation" and match(query, payload, reviewed):
                    r.fail(
                        "completeness",
                        f"record {entry['subject_id']} (seq {seq}) matches the selection but is not in the pack",
                    )
                elif record_links(entry["kind"], entry["subject_id"], text) & set(records):
                    r.fail(
                        "completeness",
                        f"seq {seq}: {entry['kind']} {entry['subject_id']} concerns an exported record but is left out",
                    )
            elif proven_all:
                r.fail("completeness", f"seq {seq}: neither exported nor disclosed, though the statement says all are")
        if not r.ok:
            return
        shown = ", ".join(f"{k}={v}" for k, v in query.items() if v is not None) or "every record"
        in_log = sum(1 for e in self.headers if e["kind"] == "generation")
        r.proven.append(f"{len(records)} records match the selection ({shown}) and each is in the pack with its events")
        if proven_all:
            r.proven.append(
                f"no other of the {in_log} records in the log matches it, and no event about an exported record is left out"
            )
        else:
            r.not_proven.append(
                f"that none of the other {in_log - len(records)} records of the log matches the selection, and that no "
                "explanation, replay, review or finding about an exported record was left out: their content was not "
                "disclosed (export with --prove-exclusions to prove it); generation, erasure, hold and release events are proven complete"
            )
        r.not_proven.append(f"anything appended to the log after event {self.size} (the checkpoint)")
        r.not_proven.append(
            "that the signing key was not stolen, or that the model's output was right: only what was logged"
        )


def verify_pack(
    pack: Path,
    keys: list[bytes],
    *,
    witnesses: Sequence[str] = (),
    need_witnesses: int = 0,
) -> Result:
    """Check ``pack`` (a folder or a .zip) against the pinned raw public ``keys``; CannotCheck for exit 2."""
    if not keys:
        raise CannotCheck("no pinned key: pass --key KEY.pub.pem (the log's public key, obtained from its owner)")
    result = Result(str(pack))
    if not pack.exists():
        raise CannotCheck(f"{pack} does not exist: pass the pack folder or its .zip")
    if pack.is_file():
        with tempfile.TemporaryDirectory(prefix="llm-audit-pack-") as tmp:
            Verifier(safe_extract(pack, Path(tmp)), keys, list(witnesses), need_witnesses, result).run()
    else:
        Verifier(pack, keys, list(witnesses), need_witnesses, result).run()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standalone.py", description="Check an llm-audit evidence pack offline.")
    parser.add_argument("pack", type=Path, help="the pack folder or .zip")
    parser.add_argument("--key", type=Path, action="append", default=[], help="the log's public key (PEM); repeatable")
    parser.add_argument("--witness", action="append", default=[], help="a witness's verifier key (name+hash+key)")
    parser.add_argument("--witnesses", type=int, default=0, help="require this many valid pinned cosignatures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--junit", type=Path, help="also write a JUnit XML report here")
    parser.add_argument("--opened-out", type=Path, help="write the opened sealed content here (JSON Lines), if proven")
    args = parser.parse_args(argv)
    try:
        result = verify_pack(
            args.pack, [load_pem(k) for k in args.key], witnesses=args.witness, need_witnesses=args.witnesses
        )
    except CannotCheck as exc:
        print(json.dumps({"ok": None, "cannot_check": str(exc)}) if args.json else f"CANNOT CHECK: {exc}")
        return 2
    try:
        if args.junit:
            args.junit.write_text(result.junit(), encoding="utf-8")
        if args.opened_out and result.ok:
            opened = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in result.opened)
            args.opened_out.write_text(opened, encoding="utf-8")
    except OSError as exc:
        print(f"CANNOT WRITE {exc.filename}: {exc.strerror}")
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.text())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
