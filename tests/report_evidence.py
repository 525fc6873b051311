"""Real numbers from the tiny model for report tests: attributions, attention, replay.

Every section of a dossier is filled by the package's own code on the tiny model (gradient x
input at token granularity, feature ablation at field granularity, the attention analysis),
so reports render values the model actually produced; only the replay verdict is built by
hand, to show verdicts the tiny model does not produce on its own.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from audit import Auditor
from audit.attention.analyse import analyse_attention
from audit.attention.result import AttentionResult
from audit.attribution.explain import explain_record
from audit.attribution.result import AttributionResult
from audit.record import GenerationRecord
from audit.replay.result import Divergence, ReplayResult
from audit.report import Evidence
from audit.report.evidence import logged_record
from audit.store import AuditStore
from tests.conftest import one_torch_thread


def token_attribution(loaded, record: GenerationRecord) -> AttributionResult:
    """Gradient x input on the input embeddings, by token."""
    return explain_record(loaded.model, loaded.tokenizer, record, "gradient-x-input", "token")


def field_attribution(loaded, record: GenerationRecord) -> AttributionResult:
    """Feature ablation by template field (each value replaced by the empty string)."""
    return explain_record(loaded.model, loaded.tokenizer, record, "feature-ablation", "field")


def attention(loaded, record: GenerationRecord) -> AttentionResult:
    return analyse_attention(loaded, record)


def replay(record: GenerationRecord, verdict: str = "identical") -> ReplayResult:
    divergence = None
    if verdict == "diverged":
        divergence = Divergence(2, record.output_ids[2], "A", record.output_ids[2] + 1, "B", 0.013)
    return ReplayResult(
        record_id=record.id,
        verdict=verdict,
        model_match={"weights_sha256": {"recorded": "ab" * 8, "current": "ab" * 8, "match": True}},
        environment_diff={} if verdict == "identical" else {"threads": {"recorded": 2, "current": 8}},
        first_divergence=divergence,
        max_logprob_diff=0.0 if verdict == "identical" else 3.2e-4,
        replayed_output_ids=list(record.output_ids),
        seconds=0.2,
        id="replay-1",
        created_at="2026-03-03T09:00:00.000000Z",
    )


INJECTION = "<script>document.documentElement.setAttribute('data-pwned','script')</script> {{ 7*7 }} <img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"
GENERATED_AT = "2026-03-04T12:00:00Z"


@dataclass
class ReportCase:
    db: Path
    credit: GenerationRecord  # chat template, fields, one field carrying an injection attempt
    plain: GenerationRecord  # plain text prompt, nothing computed for it
    evidence: Evidence  # every section filled, numbers from the tiny model


def build_report_case(tiny_loaded, tiny_model_dir, tmp_path_factory) -> ReportCase:
    """The session fixture ``report_case`` (see conftest)."""
    db = tmp_path_factory.mktemp("report") / "audit.db"
    case = tomllib.loads((Path(__file__).resolve().parents[1] / "examples" / "credit_decision.toml").read_text())
    variables = {**case["variables"], "purpose": INJECTION}
    auditor = Auditor(db=db, model=tiny_loaded, operator="analyst-7")
    with one_torch_thread():
        credit = auditor.generate(
            template=case["template"],
            variables=variables,
            system=case["system"],
            use_case="credit-decision",
            max_new_tokens=12,
        )
        plain = auditor.generate(
            prompt="Summarise: rates rose 25 basis points <b>today</b>.", use_case="news-summary", max_new_tokens=6
        )
        evidence = Evidence(
            credit,
            field_attribution(tiny_loaded, credit),
            token_attribution(tiny_loaded, credit),
            attention(tiny_loaded, credit),
            replay(credit),
        )
    with AuditStore.open(db) as store:
        evidence.logged = logged_record(store, credit.id)
    return ReportCase(db, credit, plain, evidence)
