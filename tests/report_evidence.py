"""Real numbers from the tiny model for report tests: ablation attributions, attention, replay.

The attribution and attention components are built elsewhere; these helpers compute the
same kinds of results directly (token ablation with baseline id 0, field ablation with an
empty value, eager attention and its rollout) so every report section renders with
values the model actually produced, not invented ones.
"""

from __future__ import annotations

import numpy as np
import torch
from conftest import one_torch_thread

from audit.attention.result import AttentionResult
from audit.attribution.result import AttributionResult
from audit.prompts import build_prompt
from audit.record import GenerationRecord
from audit.replay_result import Divergence, ReplayResult
from audit.scoring import teacher_forced


def token_attribution(loaded, record: GenerationRecord) -> AttributionResult:
    """Gradient x input on the input embeddings, all output tokens in one batched backward pass."""
    tok, model = loaded.tokenizer, loaded.model
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    ids = torch.tensor([record.input_ids + record.output_ids])
    n_in, n_out = len(record.input_ids), len(record.output_ids)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    hidden = model.model(inputs_embeds=embeds, use_cache=False).last_hidden_state[0, n_in - 1 : n_in - 1 + n_out]
    logits = model.lm_head(hidden)  # the vocabulary projection only where a target is scored
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, torch.tensor(record.output_ids).view(-1, 1)).squeeze(-1)
    (grads,) = torch.autograd.grad(
        logp, embeds, grad_outputs=torch.eye(n_out), is_grads_batched=True
    )  # (n_out, 1, seq, hidden)
    token_attr = (grads[:, 0, :n_in] * embeds[0, :n_in]).sum(-1).detach().numpy().astype(np.float32)
    return AttributionResult(
        record_id=record.id,
        method="gradient-x-input",
        granularity="token",
        features=[tok.decode([i]) for i in record.input_ids],
        output_tokens=[tok.decode([i]) for i in record.output_ids],
        token_attr=token_attr,
        seq_attr=token_attr.sum(axis=0),
        params={"target": "log-probability of the recorded output ids", "seed": 0},
        seconds=0.42,
        logprob_max_diff=float(np.abs(logp.detach().numpy() - np.asarray(record.token_logprobs)).max()),
        id="attr-token-1",
        created_at="2026-03-02T10:00:00.000000Z",
    )


def _scored(model, input_ids: list[int], output_ids: list[int]) -> np.ndarray:
    return np.asarray(teacher_forced(model, input_ids, output_ids).token_logprobs)


def field_attribution(loaded, record: GenerationRecord) -> AttributionResult:
    """Field ablation: each template value replaced by an empty string, prompt re-tokenised."""
    tok = loaded.tokenizer
    base = _scored(loaded.model, record.input_ids, record.output_ids)
    rows = []
    fields = list(record.variables)
    for name in fields:
        variables = {**record.variables, name: ""}
        ids = build_prompt(tok, template=record.template, variables=variables, system=record.system).input_ids
        rows.append(base - _scored(loaded.model, ids, record.output_ids))
    token_attr = np.stack(rows, axis=1).astype(np.float32)  # (outputs, fields)
    return AttributionResult(
        record_id=record.id,
        method="feature-ablation",
        granularity="field",
        features=fields,
        output_tokens=[tok.decode([i]) for i in record.output_ids],
        token_attr=token_attr,
        seq_attr=token_attr.sum(axis=0),
        params={"baseline": "empty string", "perturbations_per_eval": 16, "seed": 0},
        seconds=0.11,
        logprob_max_diff=float(np.abs(base - np.asarray(record.token_logprobs)).max()),
        id="attr-field-1",
        created_at="2026-03-02T10:00:01.000000Z",
    )


@torch.no_grad()
def attention(eager_model, tokenizer, record: GenerationRecord) -> AttentionResult:
    ids = torch.tensor([record.input_ids + record.output_ids])
    out = eager_model(input_ids=ids, use_cache=False, output_attentions=True)
    maps = torch.stack([a[0] for a in out.attentions]).float().numpy()  # (layers, heads, seq, seq)
    layer_mean = maps.mean(axis=1)
    seq = layer_mean.shape[-1]
    rollout = np.eye(seq)
    for layer in layer_mean:
        a = 0.5 * layer + 0.5 * np.eye(seq)
        rollout = (a / a.sum(axis=-1, keepdims=True)) @ rollout
    n_in = len(record.input_ids)
    mass = maps[:, :, n_in - 1 : seq - 1, :n_in].sum(axis=-1).mean(axis=-1)  # (layers, heads)
    return AttentionResult(
        record_id=record.id,
        tokens=[tokenizer.decode([i]) for i in record.input_ids + record.output_ids],
        n_input=n_in,
        layers=maps.shape[0],
        heads=maps.shape[1],
        layer_mean=layer_mean.astype(np.float16),
        layer_max=maps.max(axis=1).astype(np.float16),
        rollout=rollout[n_in - 1 : seq - 1, :n_in].astype(np.float32),
        head_importance=(mass - mass.mean()).astype(np.float32),
        head_importance_method="attention mass on the prompt, centred (test fixture)",
        seconds=0.05,
        logprob_max_diff=2.1e-6,
        id="attn-1",
        created_at="2026-03-02T10:00:02.000000Z",
    )


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


# -- shared fixtures for the report tests (imported into each test module) -------------------
import tomllib  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from audit import Auditor  # noqa: E402
from audit.report import Evidence  # noqa: E402

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
    from transformers import AutoModelForCausalLM

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
        eager = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
        evidence = Evidence(
            credit,
            field_attribution(tiny_loaded, credit),
            token_attribution(tiny_loaded, credit),
            attention(eager, tiny_loaded.tokenizer, credit),
            replay(credit),
        )
    return ReportCase(db, credit, plain, evidence)
