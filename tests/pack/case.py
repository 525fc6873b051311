"""A small database with every kind of evidence a pack carries, recorded with the tiny model.

Three credit records (one explained with its attention maps, one replayed and signed off, one overridden), a news record with a finding,
and two sealed records under a privacy policy: one held then released then erased (its tombstone),
one kept. Built once per test module; tests copy it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from audit import Auditor
from audit.integrity.signing import load_signing_key
from audit.pack.folder import PackFolder
from audit.review.roles import Principal
from tests.conftest import one_torch_thread

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "examples" / "privacy" / "policy.toml"
PASSWORD = "correct horse battery"


@dataclass
class PackCase:
    db: Path
    public_key: Path
    credit: list[str]  # ids of the credit-decision records, oldest first
    news: str
    erased: str
    sealed_kept: str
    early_note: Path  # a checkpoint exported before the sign-offs (for --since-checkpoint)
    newest_note: Path  # the newest checkpoint, exported (what witnesses cosign)
    signing_key: Path  # the log's private key (a copied database finds it through $LLM_AUDIT_SIGNING_KEY)
    policy: Path  # the privacy policy the sealed records were recorded under ([access] clear_roles: validator, admin)


def policy(folder: Path) -> Path:
    text = POLICY.read_text().replace('[demo]\ncases = ["credit_decision_pii.toml"]', "")
    text += '\n[retention.classes.short]\nminimum = "0 days"\nuse_cases = ["general"]\n'
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def build_pack_case(tiny_loaded, folder: Path) -> PackCase:
    db = folder / "audit.db"
    rules = policy(folder)
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops", policy=rules)
    with one_torch_thread():
        credit = [
            auditor.generate(
                prompt=f"Income {income}, score {score}. Approve?", use_case="credit-decision", max_new_tokens=3
            ).id
            for income, score in ((42000, 580), (91000, 720), (30500, 610))
        ]
        news = auditor.generate(prompt="Summarise: rates rose.", use_case="news-summary", max_new_tokens=3).id
        template = "Customer {customer_id}, card {card}. Approve?"
        erased = auditor.generate(
            template=template, variables={"customer_id": "C-2", "card": "5555 5555 5555 4444"}, max_new_tokens=3
        ).id
        kept = auditor.generate(
            template=template, variables={"customer_id": "C-3", "card": "378282246310005"}, max_new_tokens=3
        ).id
        auditor.explain(credit[0], method="gradient-x-input")
        auditor.attention(credit[0])
        auditor.replay(credit[1], model=tiny_loaded)
    early = folder / "early.note"
    auditor.checkpoint(export=early)
    reviews = auditor.reviews
    admin = Principal("root", "admin", "cli")
    reviews.accounts.add(admin, "rita", "reviewer", PASSWORD)
    reviews.accounts.add(admin, "val", "validator", PASSWORD)
    rita, val = reviews.session_user("rita"), reviews.session_user("val")
    reviews.sign_off(rita, credit[1], "accept", rationale="reasons read, consistent with policy")
    reviews.sign_off(val, credit[2], "override", "DECLINE", "income not verified")
    reviews.add_finding(rita, news, "high", "outcome", "summary omits the rate level")
    auditor.hold(subject="C-2", reason="litigation 2026-CV-112")
    auditor.hold(subject="C-2", reason="case closed", release=True)
    auditor.erase(record_id=erased, reason="GDPR Art. 17 request 14")
    newest = folder / "newest.note"
    auditor.checkpoint(export=newest)
    public = auditor.signing.write_public(folder / "signing.pub.pem")
    key = auditor.signing.info().path
    return PackCase(db, public, credit, news, erased, kept, early, newest, key, rules)


def resign(pack: Path, key_file: Path) -> None:
    """What the holder of the log's key could do: rewrite the manifest over the changed files and sign it."""
    manifest = json.loads((pack / "manifest.json").read_text())
    folder = PackFolder.__new__(PackFolder)
    folder.staging, folder.files = pack, {}
    for name in manifest["files"]:
        if (pack / name).exists():
            folder.add_file(name, pack / name)
    for path in pack.rglob("*"):
        name = path.relative_to(pack).as_posix()
        if path.is_file() and name not in folder.files and name not in ("manifest.json", "manifest.sig"):
            folder.add_file(name, path)
    folder.seal({k: v for k, v in manifest.items() if k != "files"}, load_signing_key(key_file))
