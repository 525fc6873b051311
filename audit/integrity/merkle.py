"""RFC 6962 Merkle tree over leaf hashes (``0x00`` leaves, ``0x01`` interior nodes).

Leaves are the chain's leaf hashes, which already carry the ``0x00`` prefix. Roots are
computed streaming (O(log n) memory) so verification reads the log once; inclusion
proofs follow RFC 6962 section 2.1.1 and are checked with RFC 9162's algorithm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_of(data: bytes) -> bytes:
    """RFC 6962 leaf hash of raw leaf data (for test vectors; our leaves come hashed)."""
    return hashlib.sha256(b"\x00" + data).digest()


class MerkleAccumulator:
    """Appends leaves one at a time and gives the root of the tree so far at any point.

    Keeps the roots of the perfect subtrees that make up the tree (at most log2 n), which
    is exactly RFC 6962's split on the largest power of two.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []

    def copy(self) -> MerkleAccumulator:
        """An independent accumulator in the same state (to extend without changing this one)."""
        other = MerkleAccumulator()
        other.size, other._stack = self.size, list(self._stack)
        return other

    def add(self, leaf: bytes) -> None:
        self.size += 1
        self._stack.append((1, leaf))
        stack = self._stack
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (n, right), (_, left) = stack.pop(), stack.pop()
            stack.append((2 * n, node_hash(left, right)))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


def root(leaves: Sequence[bytes]) -> bytes:
    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.add(leaf)
    return acc.root()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of all ``leaves`` (RFC 6962 PATH)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    return path[::-1]


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove ``leaf`` at ``index`` under ``expected_root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, result = index, tree_size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == expected_root
