"""Which report section serves which requirement (data for the regulatory map table).

Sources: the EU AI Act (Regulation (EU) 2024/1689), US Regulation B (12 CFR 1002), the
Federal Reserve's SR 26-2 (which replaced SR 11-7 in April 2026), the PRA's SS1/23, GDPR
and NIST AI 600-1; for protected attributes, ECOA and Regulation B's prohibited bases (1002.4(a), 1002.6) and the
AI Act's bias examination (Art. 10(2)(f)). Deliberately not claimed: AI Act Art. 12(3), whose minimum log fields
apply only to remote biometric identification systems, and CFPB Circular 2022-03,
withdrawn in May 2025 (Regulation B itself still binds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    section: str
    anchor: str
    requirements: tuple[str, ...]
    provides: str


DOSSIER_MAP: tuple[Requirement, ...] = (
    Requirement(
        "1. Cover and integrity",
        "cover",
        (
            "EU AI Act Art. 12(1)-(2): automatic logging for traceability",
            "EU AI Act Annex IV(1); Art. 13(3)(a)",
            "PRA SS1/23 Principle 1: model inventory",
        ),
        "Identifies the system, use case, record, operator and times; the record's SHA-256 and the audit log's verification result.",
    ),
    Requirement(
        "2. Decision",
        "decision",
        ("EU AI Act Art. 12(1)-(2)", "Regulation B, 12 CFR 1002.12(b): record retention"),
        "The decision first (where one was specified): the chosen label, its probability against the alternatives, whether the text states it, and the mode; then the exact input (template, fields, rendered prompt) and the full output as recorded.",
    ),
    Requirement(
        "3. Why: principal reasons and attributions",
        "why",
        (
            "EU AI Act Art. 86: explanation of the main elements of a decision",
            "Regulation B, 12 CFR 1002.9(b)(2): specific principal reasons",
            "GDPR Art. 22(3), Art. 15(1)(h)",
        ),
        "For an adverse decision, at most four principal reasons: the fields that moved the decision toward it rather than the favourable outcome, worded as an adverse-action notice, with the template's mapped reason and the completeness gap; for a record without a decision, the fields' influence on the text (not called reasons).",
    ),
    Requirement(
        "4. What would have changed the decision",
        "counterfactual",
        (
            "Regulation B, 12 CFR 1002.4(a) and 1002.6: no decision on a prohibited basis (ECOA, 15 U.S.C. 1691)",
            "EU AI Act Art. 10(2)(f): examination of possible biases (asked of the data; here, of the model's decisions)",
            "EU AI Act Art. 15: accuracy and robustness",
            "NIST AI 600-1: harmful bias and homogenization",
        ),
        "The decision re-scored on the recorded model with one field (or a pair) changed: each alternative's decision, the smallest change per field that flips it, and whether substituting a protected attribute's values flipped it in a stored protected-attribute run, with that run's flip rate. Re-scorings of the model, not a causal account of the applicant and not by themselves a finding of discrimination.",
    ),
    Requirement(
        "5. Attention",
        "attention",
        ("EU AI Act Art. 13(3)(b)(iv): capabilities to explain output",),
        "Where the model looked (rollout, per layer) and which heads carried the output.",
    ),
    Requirement(
        "6. Method and limits",
        "method",
        (
            "EU AI Act Art. 13: transparency to deployers",
            "NIST AI RMF MEASURE 2.9; NIST AI 600-1",
            "PRA SS1/23 Principle 4: independent validation",
        ),
        "How the explanation was computed, its parameters and checks, and what it cannot show.",
    ),
    Requirement(
        "7. Reproducibility",
        "reproducibility",
        (
            "Federal Reserve SR 26-2 (replaced SR 11-7): process verification, outcomes analysis",
            "PRA SS1/23 Principle 3: documentation sufficient to reconstruct",
            "EU AI Act Annex IV(2)",
        ),
        "Model identity by content hash, every generation parameter and the seed, the software environment, the replay verdict.",
    ),
    Requirement(
        "9. Human oversight sign-off",
        "signoff",
        (
            "EU AI Act Art. 14(4): understand, avoid automation bias, override",
            "EU AI Act Art. 26(2)",
            "PRA SS1/23 Principle 5: overrides",
            "GDPR Art. 22(3): human intervention",
        ),
        "Reviewer, role, accept or override, rationale and date, as logged and as a form to sign.",
    ),
)

NOT_CLAIMED = (
    "This table shows which section helps evidence which requirement; it is not a legal opinion and does not by itself establish compliance.",
    "Section 4 re-scores the recorded model with fields changed: it is not a disparate-impact analysis of applicants and not a finding of discrimination; swap lists are illustrative unless their note says they were validated.",
    "EU AI Act Art. 12(3) (minimum log fields) applies only to remote biometric identification systems and is not claimed.",
    "Retention: Regulation B 12 CFR 1002.12(b) requires 25 months (12 for business credit); EU AI Act Art. 19 and 26(6) at least six months.",
)
