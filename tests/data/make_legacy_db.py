"""How ``legacy-0.1.db`` was made: the database of the code before the store owned its events.

Run once at commit aad07d6 (llm-audit 0.1.0, before the architecture change of issue 14)
with the tiny test model, so the migration tests open a database the old code wrote:

    python tests/data/make_legacy_db.py tests/data

It holds a text record and a template record (each explained, one with attention, one
replayed), a sealed record with a legal hold and its release, an issued report and two
signed checkpoints. The private signing key is thrown away; its public key is kept as
``legacy-0.1.pub.pem`` so the tests can verify the migrated log against a pinned key. The
key store of the sealed record is kept (``legacy-0.1.keys.json``) so it can be opened.

The script uses the 0.1.0 API and is not expected to run on later code; it documents
where the fixture came from.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import build_tiny_model  # noqa: E402

from audit import Auditor  # noqa: E402
from audit.integrity.signing import load_key  # noqa: E402


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "tiny")
        db = tmp / "legacy-0.1.db"
        policy = tmp / "policy.toml"
        policy.write_text(
            'detectors = ["email"]\nsubject_field = "customer_id"\n[fields]\ncustomer_id = "customer_id"\n'
        )
        auditor = Auditor(db=db, model=str(model), operator="fixture")
        text = auditor.generate(prompt="The capital of France is", max_new_tokens=3, use_case="general")
        credit = auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "$42,000", "score": "580"},
            system="You are a credit analyst.",
            max_new_tokens=3,
            use_case="credit-decision",
        )
        auditor.explain(text.id, method="feature-ablation", granularity="token")
        auditor.explain(credit.id, method="feature-ablation", granularity="field")
        auditor.attention(credit.id)
        auditor.replay(credit.id)
        auditor.checkpoint()
        sealed = Auditor(db=db, model=auditor.loaded, operator="fixture", policy=policy)
        private = sealed.generate(
            template="Customer {customer_id} mail {email}. Approve?",
            variables={"customer_id": "C-1", "email": "a@b.example"},
            max_new_tokens=3,
            use_case="credit-decision",
        )
        sealed.hold(record_id=private.id, reason="fixture matter 1")
        sealed.hold(record_id=private.id, reason="fixture matter 1", release=True)
        auditor.report([credit.id], tmp / "dossier.html", generated_at="2026-12-01T00:00:00Z")
        auditor.checkpoint()
        out.mkdir(parents=True, exist_ok=True)
        conn_path = out / "legacy-0.1.db"
        import sqlite3

        source = sqlite3.connect(db)
        target = sqlite3.connect(conn_path)
        source.backup(target)  # one file, WAL folded in
        target.execute("PRAGMA journal_mode=DELETE")
        target.close()
        source.close()
        key = load_key(Path(str(db) + ".key"))
        (out / "legacy-0.1.pub.pem").write_text(key.public_pem(), encoding="utf-8")
        shutil.copy(Path(str(db) + ".keys.json"), out / "legacy-0.1.keys.json")
        os.chmod(out / "legacy-0.1.keys.json", 0o600)
        print(f"wrote {conn_path} ({conn_path.stat().st_size} bytes): records {text.id}, {credit.id}, {private.id}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
