"""Synthetic decided records written through the public store API, for the monitoring tests.

No model runs: each record is a complete :class:`~audit.record.GenerationRecord` whose decision is
drawn from a stated approval probability (per income band and period), so the statistics the
monitor computes can be checked against what was planted. The label log-probabilities put a
stated mass on the two labels (the rest on other answers), so label mass is known too.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.environment import Environment
from audit.ids import uuid7
from audit.record import DecisionRecord, GenerationRecord, ModelIdentity
from audit.store import AuditStore

USE_CASE = "credit-decision"
INCOME_REASON = "Income insufficient for amount of credit requested"
TEMPLATE = "Income {income}, credit score {credit_score}, marital status {marital_status}. Approve?"
REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)  # the reference week: Nov 1-8; the current week: Nov 8-15
CURRENT = datetime(2026, 11, 8, tzinfo=UTC)
END = datetime(2026, 11, 15, tzinfo=UTC)

_MODEL = ModelIdentity(
    "synthetic", "tests", "LlamaForCausalLM", "llama", 1, None, {"model.safetensors": "ab" * 32}, "cd" * 32,
    {"tokenizer.json": "ef" * 32}, None, 512,
)  # fmt: skip
_ENV = Environment("3.11", {"torch": "2.4"}, "linux", "x86_64", "cpu", "cpu", "cpu", "float32", 1)


def decision(approve_p: float, mass: float, rng: random.Random) -> DecisionRecord:
    """A decision drawn with P(APPROVE) = approve_p; the labels' probabilities sum to ``mass``."""
    approve = rng.random() < approve_p
    # the chosen label's share of the label mass, away from a tie
    share = rng.uniform(0.55, 0.95)
    p = {"APPROVE": share if approve else 1 - share}
    p["DECLINE"] = 1 - p["APPROVE"]
    logp = {label: math.log(q * mass) for label, q in p.items()}
    chosen = "APPROVE" if approve else "DECLINE"
    other = "DECLINE" if approve else "APPROVE"
    return DecisionRecord(
        labels=["APPROVE", "DECLINE"],
        favourable="APPROVE",
        mode="constrained",
        label_token_ids={"APPROVE": [1, 2], "DECLINE": [3]},
        label_logprobs=logp,
        probabilities=p,
        chosen=chosen,
        runner_up=other,
        margin=logp[chosen] - logp[other],
        stated=chosen,
        agrees=True,
        reasons={"income": INCOME_REASON},  # Regulation B's sample reason; marital status is never one
    )


def record(when: datetime, income: int, d: DecisionRecord, rng: random.Random) -> GenerationRecord:
    variables = {"income": f"${income:,}", "credit_score": str(rng.randint(520, 820)), "marital_status": "single"}
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return GenerationRecord(
        id=uuid7(), started_at=stamp, finished_at=stamp, duration_s=0.01, use_case=USE_CASE, operator="synthetic",
        prompt_kind="template", prompt=TEMPLATE.format(**variables), template=TEMPLATE, variables=variables,
        messages=None, system=None, add_special_tokens=True, input_ids=[1, 2, 3], output_ids=[4],
        output_text=d.chosen, finish_reason="eos", token_logprobs=[-0.1], top_logprobs=[[]],
        generation_config={"max_new_tokens": 1}, seed=0, model=_MODEL, environment=_ENV, decision=d,
    )  # fmt: skip


def write_period(
    store: AuditStore,
    start: datetime,
    n: int,
    rng: random.Random,
    low_income_approval: float,
    mass: float = 0.9,
    others: float = 0.75,
) -> list[GenerationRecord]:
    """``n`` records spread over the week from ``start``: incomes uniform over $20,000-$120,000; approval
    probability ``low_income_approval`` under $40,000 and ``others`` above."""
    made = []
    for i in range(n):
        income = rng.randrange(20_000, 120_000, 500)
        p = low_income_approval if income < 40_000 else others
        when = start + timedelta(seconds=(i + rng.random()) * 7 * 86400 / n)
        rec = record(when, income, decision(p, mass, rng), rng)
        store.records.append(rec)
        made.append(rec)
    return made


def build(
    path: Path, seed: int, n: int, before: float, after: float, mass_after: float = 0.9, others_after: float = 0.75
) -> tuple[list[GenerationRecord], list[GenerationRecord]]:
    """A database with a reference week (low-income approval ``before``) and a current week (``after``; the
    other incomes' approval ``others_after``, 0.75 as before unless given)."""
    rng = random.Random(seed)
    with AuditStore.open(path, write=True) as store, store.transaction():
        reference = write_period(store, REFERENCE, n, rng, before)
        current = write_period(store, CURRENT, n, rng, after, mass_after, others_after)
    return reference, current
