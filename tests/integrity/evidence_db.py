"""A real database holding every kind of evidence llm-audit writes, for tests that attack every column.

Built by the package itself on the tiny seeded model: generations (plain, templated with a decision, one with
privacy tags), explanations (token and decision), an attention analysis, a replay, a counterfactual run, a fairness
run, an issued report, users, a sign-off, a finding, an API key, a hold and its release, merged provenance rows,
a monitoring alert, automatic and manual checkpoints. Nothing in it is hand-written SQL.
"""

from __future__ import annotations

from pathlib import Path

from audit import Auditor
from audit.review.roles import Principal
from tests.forge import backup  # noqa: F401 - re-exported for the tests that copy the database

TEMPLATE = "Applicant {applicant_name}, age {age}. Income {income}, score {credit_score}."
VARIABLES = {"applicant_name": "Maria Garcia", "age": "34", "income": "$42,000", "credit_score": "640"}
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "protected": ["applicant_name", "age"]}
CLI = Principal("root", "admin", "cli")


def build_everything(loaded, folder: Path) -> dict[str, str]:
    """Record every kind of evidence into ``folder/every.db`` (its public key in ``every.pub.pem``); what the tests
    need to know about it. The shard merged in is pinned in ``folder/trusted_keys`` only while building."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_TRUST_FILE", str(folder / "trusted_keys"))
        return _build(loaded, folder)


def _build(loaded, folder: Path) -> dict[str, str]:
    shard = folder / "shard.db"
    other = Auditor(db=shard, model=loaded, operator="host-2")
    other.generate(prompt="Counterparty rated BB. Limit?", max_new_tokens=2, use_case="risk-assessment")
    other.checkpoint()
    from audit.integrity.trust import TrustFile

    other.signing.write_public(folder / "shard.pub.pem")
    TrustFile().add(folder / "shard.pub.pem")

    db = folder / "every.db"
    auditor = Auditor(db=db, model=loaded, operator="ops")
    decided = auditor.generate(
        template=TEMPLATE, variables=VARIABLES, max_new_tokens=2, use_case="credit-decision", decision=DECISION
    )
    plain = auditor.generate(prompt="Summarise: rates rose.", max_new_tokens=3, use_case="news")
    auditor.explain(decided.id, method="feature-ablation", granularity="field")
    auditor.explain(plain.id, method="gradient-x-input", granularity="token")
    auditor.attention(plain.id)
    auditor.replay(plain.id)
    auditor.counterfactual(decided.id, ["credit_score=600,700"])
    auditor.fairness(["age=25,70"], use_case="credit-decision")
    auditor.report([decided.id], folder / "dossier.html", generated_at="2026-03-04T12:00:00Z")
    reviews = auditor.reviews
    reviews.accounts.add(CLI, "rita", "reviewer", "correct horse battery")
    rita = reviews.session_user("rita")
    reviews.sign_off(rita, decided.id, "accept", rationale="reasons read")
    reviews.add_finding(rita, plain.id, "high", "outcome", "summary omits the rate level")
    reviews.assign(rita, plain.id, "rita")  # an assignment: a record taken for review
    auditor.api_keys.add("svc-1")
    auditor.hold(record_id=plain.id, reason="litigation 42")
    auditor.hold(record_id=plain.id, reason="settled", release=True)
    auditor.merge([shard], hosts=["host-2"])
    from audit.monitor.result import AlertResult
    from audit.store import AuditStore

    alert = AlertResult(
        rule={"name": "approval-rate", "use_case": "credit-decision", "metric": "approval_rate", "min": 0.5},
        severity="high",
        window={"since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z"},
        reference=None,
        text="approval rate 0.00 below 0.50",
        value=0.0,
        test=None,
        records=1,
        record_ids=[decided.id],
    )
    with AuditStore.open(db, write=True) as store:  # a monitoring rule that fired, stored as `monitor` stores it
        store.alerts.append(alert)
    auditor.checkpoint()
    auditor.signing.write_public(folder / "every.pub.pem")
    return {"db": str(db), "decided": decided.id, "plain": plain.id, "shard": str(shard)}
