"""The Auditor's integrity methods: verify the log, sign checkpoints, export and check record proofs.

A part of the façade (:class:`audit.Auditor` inherits it), kept here so ``auditor.py`` stays a
short index; it needs only the Auditor's ``db_path``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..store import AuditStore
from . import keys
from .cosignature import parse_witness_vkey
from .keyring import Keyring
from .proof import export_proof, load_trusted, read_proof, verify_proof_document
from .results import Problem
from .verify import VerifyResult, verify_path
from .witnessing import Witnessed, check_witnessed, checkpoint_with_witness

if TYPE_CHECKING:
    from ..store.checkpoints import Checkpoint
    from .proof import ProofResult


WITNESS_KEYS_ENV = "LLM_AUDIT_WITNESS_KEYS"  # witness verifier keys (or files), os.pathsep apart


class IntegrityFacade:
    """Verification, checkpoints, signing keys and proofs of the database at ``db_path``."""

    db_path: Path

    def verify(
        self, *, key: Any = None, witness_keys: Sequence[str] = (), witnesses: int = 0, **options: Any
    ) -> VerifyResult:
        """Check all the log commits to, read-only, pinned to ``key`` or the trust file (:func:`~audit.integrity.verify.verify_path`);
        held to the checkpoints the witnesses of ``witness_keys`` cosigned, ``witnesses`` of them required on one."""
        if not witness_keys and os.environ.get(WITNESS_KEYS_ENV):  # reports and the workspace hold the log to them too
            witness_keys = [k for k in os.environ[WITNESS_KEYS_ENV].split(os.pathsep) if k]
        trusted = [parse_witness_vkey(k, f"--witness-key {k}") for k in witness_keys]
        if witnesses and not trusted:
            raise UserError("--witnesses needs the witnesses' keys: pass --witness-key with each witness's vkey")
        result = verify_path(self.db_path, key, **options)
        from ..review.index_check import index_problems  # the derived review index, recomputed from the evidence

        with AuditStore.open(self.db_path) as store:
            for problem in index_problems(store):
                result.problems.append(Problem("derived-index", None, problem))
            if trusted:
                result.witness_checked = True
                check_witnessed(self.db_path, trusted, witnesses, store.events.leaf_hashes(), result)
        return result

    def checkpoint_witnessed(self, witness_dir: str | Path, *, key: str | Path | None = None) -> Witnessed:
        """Sign a checkpoint now and have the witness in ``witness_dir`` cosign it (kept in ``<db>.witnessed/``)."""
        return checkpoint_with_witness(self.db_path, witness_dir, key)

    def checkpoint(self, *, key: str | Path | None = None, export: str | Path | None = None) -> Checkpoint:
        """Sign the log's current size and root now (the key is created on first use); ``export``: also write it as a C2SP note."""
        return self.signing.export(Path(export), key)[0] if export else keys.sign_checkpoint(self.db_path, key)

    @cached_property
    def signing(self) -> Keyring:
        """This database's signing key, the trust file, key rotation, exported checkpoints (:mod:`audit.integrity.keyring`)."""
        return Keyring(self.db_path)

    def proof(self, record_id: str, output: str | Path) -> Path:
        """Write ``record_id``'s events, blobs and inclusion proofs to ``output`` (JSON)."""
        return export_proof(self.db_path, record_id, Path(output))

    @staticmethod
    def verify_proof(proof_file: str | Path, *, key: str | Path | None = None) -> ProofResult:
        """Check a proof file offline against ``key`` (else the key it embeds); no database needed."""
        doc = read_proof(Path(proof_file))
        return verify_proof_document(doc, *load_trusted(Path(key) if key else None, doc))
