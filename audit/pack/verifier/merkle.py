"""The log's hashes (header, leaf, RFC 6962 node and root) and the inclusion and consistency proofs, in the
standard library: re-implemented here so the verifier needs nothing of llm-audit (the tests hold them to the package's)."""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring

from .formats import DOMAIN, DOMAIN_SIGNED


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
