"""The checks of the records: every exported event against its leaf and inclusion proof, the opened sealed
content, and the completeness statement against the index."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .formats import BLOBS, COMPLETENESS, EVENTS, EXCLUDED, LINKED_BY_SUBJECT, OPENED, split_line
from .merkle import verify_inclusion
from .query import data_subject, match, record_links
from .result import Result


class RecordChecks:
    root: Path
    result: Result

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def jsonl(self, name: str) -> list[str]:
        raise NotImplementedError

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
