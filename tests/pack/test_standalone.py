"""The verifier as a recipient runs it: its script (`python verifier/verify_pack.py`), in a fresh virtual environment holding only
``cryptography`` (no torch, no llm-audit, no database), in isolated mode so nothing of this checkout leaks in."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from audit import Auditor
from audit.pack import ExportOptions, Selection
from tests.pack.case import build_pack_case

VERIFIER = Path(__file__).resolve().parents[2] / "audit" / "pack" / "verifier"


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> Path:
    """A plain venv (no system site-packages) with `pip install cryptography` from the registry, once per session."""
    folder = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(folder)
    python = folder / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "cryptography"], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        pytest.skip(f"pip could not install cryptography into a fresh venv: {done.stderr.strip()[-300:]}")
    return python


@pytest.fixture(scope="module")
def pack(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack-standalone")
    case = build_pack_case(tiny_loaded, folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_SIGNING_KEY", str(case.signing_key))
        Auditor(db=case.db).export(
            ExportOptions(folder / "pack", Selection.build(use_case="credit-decision"), zipped=True)
        )
    return case, folder


def run(python: Path, script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-I", str(script), *args], capture_output=True, text=True, cwd=cwd, env={}, timeout=120
    )


def test_the_bare_environment_has_nothing_but_cryptography(bare_python):
    for module in ("torch", "transformers", "audit", "rfc8785", "pyarrow"):
        found = subprocess.run([str(bare_python), "-I", "-c", f"import {module}"], capture_output=True, env={})
        assert found.returncode != 0, module
    assert subprocess.run([str(bare_python), "-I", "-c", "import cryptography"], env={}).returncode == 0


def test_standalone_verifier_proves_the_pack_and_catches_a_change_without_llm_audit(bare_python, pack, tmp_path):
    case, folder = pack
    alone = tmp_path / "held" / "verifier"
    shutil.copytree(VERIFIER, alone, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(case.public_key, tmp_path / "KEY.pub.pem")
    outputs = []
    for target in (folder / "pack", folder / "pack.zip"):
        done = run(bare_python, alone / "verify_pack.py", str(target), "--key", "KEY.pub.pem", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("PROVEN: the pack was signed by the pinned key") and not done.stderr
        outputs.append(done.stdout)
    shipped = folder / "pack" / "verifier"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in VERIFIER.glob("*.py"))
    again = run(bare_python, shipped / "verify_pack.py", str(folder / "pack"), "--key", "KEY.pub.pem", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == outputs[0] == outputs[1]
    assert not (shipped / "__pycache__").exists()  # run inside the pack, it leaves no file the manifest lacks
    changed = tmp_path / "changed"
    shutil.copytree(folder / "pack", changed)
    summary = changed / "reports" / "summary.html"
    summary.write_text(summary.read_text().replace("credit-decision", "credit-decisions", 1))
    done = run(bare_python, alone / "verify_pack.py", str(changed), "--key", "KEY.pub.pem", "--json", cwd=tmp_path)
    assert (
        done.returncode == 1
        and '"check": "files"' in done.stdout
        and "reports/summary.html does not match" in done.stdout
    )
    assert not done.stderr


def test_the_cli_verifier_is_the_standalone_one(pack):
    """One verifier: verify-pack's result comes from the very functions of the verifier package."""
    from audit.pack import api
    from audit.pack import verifier as standalone

    case, folder = pack
    result = api.verify_pack(folder / "pack", [case.public_key])
    direct = standalone.verify_pack(folder / "pack", [standalone.load_pem(case.public_key)])
    assert result.to_dict() == direct.to_dict() and result.ok
    assert sys.modules["audit.pack.verifier"].__file__ == str(VERIFIER / "__init__.py")


def test_the_standalone_hashes_and_proofs_agree_with_the_package_ones():
    """The verifier re-implements leaf, header, root, inclusion and consistency in the standard library; each is
    checked against audit.integrity on generated trees and awkward strings (quotes, controls, non-ASCII, emoji)."""
    import hashlib
    import random

    from audit.integrity import merkle
    from audit.integrity.chain import header_sha256, leaf_hash
    from audit.pack import verifier as s

    rng = random.Random(7)
    for text in ["plain", 'a "quoted" \\ back', "tab\tnew\nline\x01", "é ü 中文", "emoji 😀", "", "\u2028"]:
        assert s.header_hash("2026-01-01T00:00:00.000000Z", text, text[::-1]) == header_sha256(
            text, text[::-1], "2026-01-01T00:00:00.000000Z"
        )
    prev = bytes(32)
    for seq in range(1, 5):
        digest, header = hashlib.sha256(bytes([seq])).digest(), hashlib.sha256(b"h").digest()
        assert s.leaf(seq, prev, digest, header) == leaf_hash(seq, prev, digest, header)
        prev = leaf_hash(seq, prev, digest, header)
    for size in [1, 2, 3, 5, 8, 13, 31, 64, 100]:
        leaves = [hashlib.sha256(rng.randbytes(8)).digest() for _ in range(size)]
        tree = merkle.MerkleTree(leaves)
        assert s.merkle_root(leaves) == tree.root() == merkle.root(leaves)
        for index in {0, size // 2, size - 1}:
            path = tree.inclusion_proof(index)
            assert s.verify_inclusion(leaves[index], index, size, path, tree.root())
            assert not s.verify_inclusion(leaves[index], index, size, path[:-1] or [bytes(32)], tree.root())
        for old in {1, size // 2 or 1, size}:
            proof = tree.consistency_proof(old)
            assert s.verify_consistency(old, size, tree.root(old), tree.root(), proof)
            if proof:
                assert not s.verify_consistency(old, size, tree.root(old), tree.root(), [bytes(32), *proof[1:]])
