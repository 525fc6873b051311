"""Section 1, the cover (``cover.html.j2``): what the record is, who made it, and what vouches for it."""

from __future__ import annotations

from dataclasses import dataclass

from ..evidence import Evidence, IntegrityStatus
from ..frames import frame_of


@dataclass
class Cover:
    system: str
    use_case: str
    record_id: str
    seq: str
    started_at: str
    finished_at: str
    operator: str
    generated_at: str
    record_hash: str
    hash_method: str
    integrity: IntegrityStatus
    model: str
    frame: str = ""  # the regulatory frame of a decision's wording ("" for a record without a decision)


def cover_section(evidence: Evidence, generated_at: str, integrity: IntegrityStatus) -> Cover:
    record = evidence.record
    logged = evidence.logged
    if logged is not None:
        digest = logged.payload_sha256
        how = f"the payload_sha256 of its generation event, seq {logged.seq} of the audit log (RFC 8785 canonical JSON)"
    else:
        digest, how = "not in the audit log", "no generation event for this record was found in the audit log"
    return Cover(
        system=f"llm-audit · {record.model.name}",
        use_case=record.use_case,
        record_id=record.id,
        seq=str(record.seq) if record.seq is not None else "—",
        started_at=record.started_at,
        finished_at=record.finished_at,
        operator=record.operator,
        generated_at=generated_at,
        record_hash=digest,
        hash_method=how,
        integrity=integrity,
        model=f"{record.model.name} ({record.model.architecture}, {record.model.parameter_count:,} parameters)",
        frame=frame_of(record).cover if record.decision is not None else "",
    )
