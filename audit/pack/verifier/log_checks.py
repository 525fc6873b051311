"""The checks of the log: the manifest's signature and every file, the checkpoint and its note's witnesses,
the index recomputed to the signed root, and the consistency proof from an earlier checkpoint."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from .formats import (
    CHECKPOINT,
    FORMAT,
    INDEX,
    MANIFEST,
    NOTE,
    ORIGIN_PREFIX,
    SIGNATURE,
    SINCE,
    CannotCheck,
    checkpoint_message,
    manifest_message,
    note_body,
    signature_file,
)
from .keys import ed25519_ok, key_id
from .merkle import header_hash, leaf, merkle_root, verify_consistency
from .result import Result


class LogChecks:
    root: Path
    keys: list[bytes]
    result: Result
    witnesses: list[tuple[str, bytes, bytes]]
    need_witnesses: int

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def jsonl(self, name: str) -> list[str]:
        raise NotImplementedError

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
