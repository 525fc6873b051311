"""The view model of one decision's dossier: plain values in the order the report shows them.

Everything a template needs is computed here (texts, numbers, colour buckets, geometry);
the templates in ``reports/templates/dossier/`` only lay it out, one template per section and
here one module per section: :mod:`.cover`, :mod:`.decision`, :mod:`.why`, what-if
(:mod:`..counterfactual_view`), :mod:`.attention`, :mod:`.method`, :mod:`.reproducibility`,
the regulatory map (:mod:`..regulatory`) and the sign-offs (:class:`..evidence.Review`). Absent evidence becomes a plain
sentence saying what is missing and how to produce it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..counterfactual_view import WhatIf, what_if
from ..decision_view import mark_unexplainable
from ..evidence import Evidence, IntegrityStatus, Review
from ..frames import frame_of, framed_map, framed_notes
from ..regulatory import DOSSIER_MAP, NOT_CLAIMED, Requirement
from .attention import Attention, attention_section, rollout_without_first
from .cover import Cover, cover_section
from .decision import Decision, decision_section
from .method import Method, method_section
from .reproducibility import ReplayView, Reproducibility, reproducibility_section
from .values import Rows
from .why import TextInfluence, Why, why_section


@dataclass
class Dossier:
    anchor: str
    title: str
    cover: Cover
    decision: Decision
    why: Why
    what_if: WhatIf  # section 4: what would have changed the decision
    attention: Attention
    method: Method
    reproducibility: Reproducibility
    regulatory: tuple[Requirement, ...]
    regulatory_notes: tuple[str, ...]
    reviews: list[Review]


def build_dossier(evidence: Evidence, generated_at: str, integrity: IntegrityStatus, index: int = 0) -> Dossier:
    """The whole dossier for one record; ``index`` keeps element ids unique in a multi-record file."""
    record = evidence.record
    why = why_section(evidence)
    frame = frame_of(record) if record.decision is not None else None
    return Dossier(
        anchor=f"d{index}",
        title=f"Decision dossier · {record.use_case}",
        cover=cover_section(evidence, generated_at, integrity),
        decision=mark_unexplainable(decision_section(record, evidence.privacy), why),
        why=why,
        what_if=what_if(evidence),
        attention=attention_section(evidence.attention, record),
        method=method_section(evidence),
        reproducibility=reproducibility_section(evidence),
        regulatory=framed_map(DOSSIER_MAP, frame),
        regulatory_notes=framed_notes(NOT_CLAIMED, frame),
        reviews=list(evidence.reviews),
    )


__all__ = [
    "Attention",
    "Cover",
    "Decision",
    "Dossier",
    "Method",
    "ReplayView",
    "Reproducibility",
    "Rows",
    "TextInfluence",
    "Why",
    "build_dossier",
    "rollout_without_first",
]
