"""The regulatory frame of a decision: which words its dossier and summary use (``reports/frames.toml``).

A consumer credit decision is explained to an applicant in an adverse-action notice under Regulation B;
a covenant test on a commercial loan has a counterparty, no such notice and no Regulation B wording; an
EU AI Act system owes an Art. 86 explanation. The frame is part of the decision specification
(``[decision] frame``, recorded with the decision); a record that states none takes its use case's default
(the data file's ``[use_cases]``), and a use case without one gets ``none``. The cover states it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..record import GenerationRecord

FRAMES_FILE = Path(__file__).resolve().parents[2] / "reports" / "frames.toml"


@dataclass(frozen=True)
class Frame:
    name: str
    title: str
    subject: str
    notice: str  # "" where the frame has no notice
    reasons_title: str
    notice_heading: str
    notice_label: str
    prohibited: str
    regulation_b: bool
    stated: bool = True  # the record states its frame (else it is the use case's default)

    @property
    def cover(self) -> str:
        how = "stated by the decision specification" if self.stated else "the default of the use case"
        return f"{self.title} ({self.name}; {how})"

    @property
    def unexplainable(self) -> str:
        """The flag a decision without faithful reasons carries: "Unexplainable for an adverse-action notice"."""
        if not self.notice:
            return "Unexplainable from this evidence"
        return f"Unexplainable for {'an' if self.notice[0] in 'aeiou' else 'a'} {self.notice}"


@lru_cache(maxsize=1)
def _data() -> dict:
    return tomllib.loads(FRAMES_FILE.read_text(encoding="utf-8"))


def frame_named(name: str, stated: bool = True) -> Frame:
    return Frame(name=name, stated=stated, **_data()["frames"][name])


def default_frame(use_case: str) -> str:
    return _data()["use_cases"].get(use_case, "none")


def frame_of(record: GenerationRecord) -> Frame:
    """The record's frame: as its decision states it, else its use case's default."""
    stated = record.decision.frame if record.decision is not None else None
    if stated is not None:
        return frame_named(stated)
    return frame_named(default_frame(record.use_case), stated=False)


def framed_map(requirements: tuple, frame: Frame | None) -> tuple:
    """The regulatory map's rows for ``frame``: Regulation B's requirements and wording only where the frame is
    consumer credit (a record without a decision keeps the map as it is)."""
    from dataclasses import replace

    if frame is None or frame.regulation_b:
        return requirements
    notice = f"worded as {frame.notice}" if frame.notice else "worded as factors"
    return tuple(
        replace(
            r,
            requirements=tuple(x for x in r.requirements if "Regulation B" not in x),
            provides=r.provides.replace("worded as an adverse-action notice", notice).replace(
                "applicant", frame.subject
            ),
        )
        for r in requirements
    )


def framed_notes(notes: tuple, frame: Frame | None) -> tuple:
    """The map's notes for ``frame``: without Regulation B's where the frame is not consumer credit."""
    if frame is None or frame.regulation_b:
        return notes
    return tuple(n.replace(" of applicants", "") for n in notes if "Regulation B" not in n)
