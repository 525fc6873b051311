"""The pure integrity primitives against published references: RFC 6962 trees, RFC 8785 JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from audit.integrity import merkle
from audit.integrity.canonical import canonical_bytes, same_content
from audit.integrity.chain import DOMAIN, GENESIS, header_sha256, leaf_hash, recompute_leaf, seal

# Certificate Transparency's reference test vectors (certificate-transparency / trillian
# merkle tree tests): leaf inputs and the tree head for the first n of them.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _reference_mth(leaves[:k]) + _reference_mth(leaves[k:])).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency_vectors(size):
    leaves = [merkle.leaf_of(bytes.fromhex(h)) for h in CT_LEAVES[:size]]
    assert merkle.root(leaves).hex() == CT_ROOTS[size - 1]


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_streaming_root_equals_recursive_definition_at_every_size():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(70)]
    acc = merkle.MerkleAccumulator()
    for n, leaf in enumerate(leaves, start=1):
        acc.add(leaf)
        assert acc.root() == _reference_mth(leaves[:n])


def test_inclusion_proofs_verify_for_every_leaf_and_fail_when_altered():
    for size in (1, 2, 3, 5, 8, 13, 33):
        leaves = [hashlib.sha256(f"{size}-{i}".encode()).digest() for i in range(size)]
        root = merkle.root(leaves)
        for index in range(size):
            path = merkle.inclusion_proof(leaves, index)
            assert len(path) <= max(1, (size - 1).bit_length())
            assert merkle.verify_inclusion(leaves[index], index, size, path, root)
            assert not merkle.verify_inclusion(hashlib.sha256(b"forged").digest(), index, size, path, root)
            if size > 1:
                assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, path, root)
                bent = [path[0][:-1] + bytes([path[0][-1] ^ 1])] + path[1:]
                assert not merkle.verify_inclusion(leaves[index], index, size, bent, root)


def test_ct_inclusion_proof_vector():
    # RFC 6962 reference: leaf 0 of the 8-leaf tree has this audit path (trillian test data).
    leaves = [merkle.leaf_of(bytes.fromhex(h)) for h in CT_LEAVES]
    path = [h.hex() for h in merkle.inclusion_proof(leaves, 0)]
    assert path == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


# -- the published vectors of transparency-dev/merkle (tests/data/transparency-dev-merkle/README.md) --------------------
VECTORS = Path(__file__).resolve().parents[1] / "data" / "transparency-dev-merkle"
TD = json.loads((VECTORS / "verify_test_vectors.json").read_text())
TD_LEAVES = [merkle.leaf_of(bytes.fromhex(h)) for h in TD["leaves"]]
TD_ROOTS = [bytes.fromhex(h) for h in TD["roots"]]


def _corrupted_consistency(m: int, n: int, r1: bytes, r2: bytes, proof: list[bytes]):
    """The probes of the module's corruptConsistencyProof, rewritten: each must be refused."""
    some = bytes.fromhex(TD["sha256SomeHash"])
    yield from [
        (m - 1, n, r1, r2, proof),
        (m + 1, n, r1, r2, proof),
        (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof),
        (m, n // 2, r1, r2, proof),
        (m, n, b"WrongRoot", r2, proof),
        (m, n, r1, b"WrongRoot", proof),
        (m, n, r2, r1, proof),
        (m, n, r1, r2, []),
        (m, n, r1, r2, [*proof, b""]),
        (m, n, r1, r2, [*proof, r1]),
        (m, n, r1, r2, [*proof, r2]),
        (m, n, r1, r2, [b"", *proof]),
        (m, n, r1, r2, [r1, *proof]),
        (m, n, r1, r2, [r2, *proof]),
        (m, n, r1, r2, [proof[0], *proof]),
        (m, n, r1, r2, proof[:-1]),
        (m, n, r1, r2, [some, *proof[1:]]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        yield (m, n, r1, r2, flipped)


@pytest.mark.parametrize("vector", TD["consistencyProofs"], ids=lambda v: f"{v['size1']}-{v['size2']}")
def test_consistency_proofs_equal_transparency_dev_vectors_and_every_corruption_fails(vector):
    m, n, want = vector["size1"], vector["size2"], [bytes.fromhex(h) for h in vector["proof"] or []]
    tree = merkle.MerkleTree(TD_LEAVES)
    proof = tree.consistency_proof(m, n)
    assert proof == want == merkle.consistency_proof(TD_LEAVES[:n], m)
    assert merkle.verify_consistency(m, n, TD_ROOTS[m - 1], TD_ROOTS[n - 1], proof)
    if proof:  # as the Go test: only non-trivial proofs are corrupted
        for probe in _corrupted_consistency(m, n, TD_ROOTS[m - 1], TD_ROOTS[n - 1], proof):
            assert not merkle.verify_consistency(*probe), probe[:2]


@pytest.mark.parametrize("vector", TD["inclusionProofs"][1:], ids=lambda v: f"{v['leaf']}-{v['size']}")
def test_inclusion_proofs_equal_transparency_dev_vectors(vector):
    index, size = vector["leaf"] - 1, vector["size"]
    proof = merkle.MerkleTree(TD_LEAVES).inclusion_proof(index, size)
    assert [h.hex() for h in proof] == (vector["proof"] or [])
    assert merkle.verify_inclusion(TD_LEAVES[index], index, size, proof, TD_ROOTS[size - 1])
    for wrong_index, wrong_size in (
        (index - 1, size),
        (index + 1, size),
        (index ^ 2, size),
        (index, size * 2),
        (index, size // 2),
    ):
        if (wrong_index, wrong_size) != (index, size):
            assert not merkle.verify_inclusion(TD_LEAVES[index], wrong_index, wrong_size, proof, TD_ROOTS[size - 1])


def test_consistency_edge_cases_of_the_go_test_table():
    named = {
        "root1": b"don't care 1",
        "root2": b"don't care 2",
        "sha256EmptyTreeHash": bytes.fromhex(TD["sha256EmptyTreeHash"]),
    }
    proofs = {"proof1": [], "proof2": [bytes.fromhex(TD["sha256EmptyTreeHash"])]}
    for case in TD["TestVerifyConsistency_table"]["cases"]:
        ok = merkle.verify_consistency(
            case["size1"], case["size2"], named[case["root1"]], named[case["root2"]], proofs[case["proof"]]
        )
        assert ok == (not case["wantErr"]), case


def test_inclusion_edge_cases_of_the_go_test():
    some, empty = bytes.fromhex(TD["sha256SomeHash"]), bytes.fromhex(TD["sha256EmptyTreeHash"])
    for index, size in TD["TestVerifyInclusion_probes"]["probes"]:
        for leaf, root in ((some, b""), (b"", empty), (some, empty)):
            assert not merkle.verify_inclusion(leaf, index, size, [], root)
    single = merkle.leaf_of(b"data")
    values = {"hash": single, "empty": b""}
    for root, leaf, want_err in TD["TestVerifyInclusionSingleEntry"]["cases"]:
        assert merkle.verify_inclusion(values[leaf], 0, 1, [], values[root]) == (not want_err)


def test_rfc6962_hasher_vectors():
    for case in TD["rfc6962_hasher"]:
        if case["op"] == "empty_root":
            got = merkle.EMPTY_ROOT
        elif case["op"] == "leaf":
            got = merkle.leaf_of(case["data_ascii"].encode())
        else:
            got = merkle.node_hash(case["left_ascii"].encode(), case["right_ascii"].encode())
        assert got.hex() == case["want"], case["desc"]


@pytest.mark.parametrize(
    "path",
    sorted((VECTORS / "testdata").rglob("*.json")),
    ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}",
)
def test_transparency_dev_testdata_files(path):
    import base64

    case = json.loads(path.read_text())
    b64 = base64.b64decode
    proof = [b64(h) for h in case["proof"] or []]
    if "size1" in case:
        ok = merkle.verify_consistency(case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof)
    else:
        ok = merkle.verify_inclusion(b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, b64(case["root"]))
    assert ok == (not case["wantErr"]), case["desc"]


def test_consistency_between_every_pair_of_sizes_and_a_rollback_never_verifies():
    leaves = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(70)]
    tree = merkle.MerkleTree(leaves)
    for n in range(1, 71):
        assert tree.root(n) == _reference_mth(leaves[:n])
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m, n)
            assert merkle.verify_consistency(m, n, tree.root(m), tree.root(n), proof), (m, n)
            assert not merkle.verify_consistency(n, m, tree.root(n), tree.root(m), proof) or m == n
            if 0 < m < n:
                assert not merkle.verify_consistency(
                    m, n, tree.root(m - 1) if m > 1 else leaves[1], tree.root(n), proof
                )


def test_rfc8785_canonical_form():
    # RFC 8785 section 3.2.2 sample: numbers in ES6 form, keys sorted, no whitespace.
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "literals": [None, True, False],
    }
    assert (
        canonical_bytes(value) == b'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}'
    )
    assert canonical_bytes({"b": 1, "a": "\u20ac\n"}) == '{"a":"\u20ac\\n","b":1}'.encode()


def test_non_ijson_numbers_are_tagged_not_rejected():
    value = {"lp": [float("-inf"), 0.5], "seed": 2**63}
    text = canonical_bytes(value)
    assert text == b'{"lp":[{"$float":"-inf"},0.5],"seed":{"$int":"9223372036854775808"}}'
    assert same_content(text.decode(), value)
    assert not same_content(text.decode(), {"lp": [float("-inf"), 0.25], "seed": 2**63})


def test_leaf_hash_is_the_documented_formula():
    payload = {"x": 1}
    event = seal(7, GENESIS, "generation", "abc", "2026-01-01T00:00:00.000000Z", payload)
    header = hashlib.sha256(
        b'{"created_at":"2026-01-01T00:00:00.000000Z","kind":"generation","subject_id":"abc"}'
    ).digest()
    assert header == header_sha256("generation", "abc", "2026-01-01T00:00:00.000000Z")
    payload_sha = hashlib.sha256(b'{"x":1}').digest()
    expected = hashlib.sha256(b"\x00" + DOMAIN + header + (7).to_bytes(8, "big") + GENESIS + payload_sha).hexdigest()
    assert event.payload == '{"x":1}' and event.payload_sha256 == payload_sha.hex()
    assert event.leaf_hash == expected == leaf_hash(7, GENESIS, payload_sha, header).hex() == recompute_leaf(event)


@pytest.mark.parametrize(
    "text", ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1f\x7f", "\u20ac \u2028 \U0001f600 é"]
)
def test_fast_canonical_forms_equal_the_rfc8785_encoder(text):
    from audit.integrity.canonical import canonical_header, canonical_object, canonical_scalar

    assert canonical_header(text, "generation", text) == canonical_bytes(
        {"created_at": text, "kind": "generation", "subject_id": text}
    )
    for scalar in (text, 0.1, 2.5e-05, 1e21, 3.0, -7, True, None):
        assert canonical_scalar(scalar) == canonical_bytes(scalar).decode()
    value = {"b": [1, 2.5, None], "a": text, "c": {"z": 1, "y": [text]}, text[:1] or "k": False}
    members = {k: canonical_bytes(v).decode() for k, v in value.items()}
    assert canonical_object(members) == canonical_bytes(value).decode()
