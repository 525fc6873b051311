"""What ``verify`` found: the check names, the problems, the covers, and the result in text and JUnit.

Every check of the verification pass reports through one :class:`ProblemLog`, so the count of
problems and the first ``MAX_PROBLEMS`` of them are kept in one place whichever check found them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_PROBLEMS = 50

# Check names, also the JUnit test case names.
CHECKS = (
    "sequence",
    "payload-hash",
    "chain-link",
    "leaf-hash",
    "tables",
    "evidence-rows",
    "evidence-order",
    "blobs",
    "checkpoint-root",
    "checkpoint-signature",
    "checkpoint-key",
    "truncation",
    "pinning",
    "unsigned",
    "consistency",
    "stored-json",
    "derived",
    "event-signature",
    "derived-index",
    "witness",
    "witness-required",
)

# Checks that fail because something the caller required is absent (--require-signed, --witnesses N), not
# because anything was altered: a result whose only problems are these is NOT PROVEN, never TAMPERED.
REQUIREMENTS = frozenset({"unsigned", "witness-required"})


@dataclass(frozen=True)
class Problem:
    check: str
    seq: int | None  # first event affected; None when no single event is to blame
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass(frozen=True)
class Cover:
    """A valid checkpoint: it covers every event up to ``tree_size``."""

    checkpoint_id: int
    tree_size: int
    key_id: str
    signed_at: str
    pinned: bool  # signed by a pinned key (or one a pinned key handed over to)


@dataclass
class AgainstResult:
    """One saved checkpoint the log was checked against."""

    path: str
    origin: str
    tree_size: int
    root_hash: str
    key_id: str | None = None  # who signed the saved note (None: nobody we trust)
    proof_hashes: int = 0
    ok: bool = False


@dataclass
class VerifyResult:
    """What ``verify`` found; ``ok`` is False iff there is at least one problem."""

    database: str
    events: int = 0
    projected: int = 0  # events checked against their evidence rows
    rows: int = 0  # evidence rows checked to have their event
    checkpoints: int = 0
    signed_size: int = 0  # covered by a valid checkpoint of the log's key
    pinned_size: int = 0  # covered by a valid checkpoint of a pinned key
    blobs: int = 0
    root_hash: str = ""
    origin: str = ""
    key_id: str | None = None  # the log's current signing key
    key_pinned: bool = False
    pin_source: str = ""
    pin_warning: str | None = None
    unpinned_because: str | None = None  # a trust file that pins other logs, not this one
    require_signed: bool = False
    witnessed_size: int = 0  # the newest checkpoint a trusted witness cosigned that the log extends
    witnesses: list[str] = field(default_factory=list)  # the witnesses who cosigned it
    witness_checked: bool = False  # witness keys were given, so witnessed_size means something
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    covers: list[Cover] = field(default_factory=list)
    against: list[AgainstResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def covered_size(self) -> int:
        """What the result vouches for: events up to the last pinned checkpoint, or (unpinned) the last valid one."""
        return self.pinned_size if self.key_pinned else self.signed_size

    @property
    def unsigned_events(self) -> int:
        return self.events - self.covered_size

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def cover_of(self, seq: int) -> Cover | None:
        """The first checkpoint that covers event ``seq`` (pinned ones only when pinned), or None."""
        for cover in self.covers:
            if cover.tree_size >= seq and (cover.pinned or not self.key_pinned):
                return cover
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, unsigned_events=self.unsigned_events, covered_size=self.covered_size)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    @property
    def tampered(self) -> bool:
        """Something was proven altered (as opposed to a requirement of the caller's not met)."""
        return any(p.check not in REQUIREMENTS for p in self.problems)

    def summary(self) -> str:
        if not self.ok:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            verdict = "TAMPERED" if self.tampered else "NOT PROVEN"
            return f"{verdict}: {self.first_problem}{more}"
        head = (
            f"OK: {self.events} events ({self.projected} checked against their tables, {self.rows} rows against "
            f"their events), {self.blobs} blobs, root {self.root_hash[:16]}…"
        )
        if self.key_pinned:
            signed = f"signed up to seq {self.pinned_size}, verified against the pinned key ({self.pin_source})"
        elif self.checkpoints:
            signed = (
                f"UNPINNED: {self.checkpoints} checkpoints up to seq {self.signed_size} signed by key {self.key_id}, "
                "checked only against the key the database itself records, which whoever can write the database "
                "could replace: pin your key with `llm-audit trust add KEY.pub.pem` or pass --key"
            )
        else:
            signed = "UNPINNED: no checkpoint yet, nothing is signed (run `llm-audit checkpoint`)"
        if not self.key_pinned and self.unpinned_because:
            signed += f"; {self.unpinned_because}"
        tail = ""
        if self.unsigned_events > 0 and self.covered_size:
            tail = f"; {self.unsigned_events} newest events (seq {self.covered_size + 1}-{self.events}) not yet covered by a checkpoint"
        against = "".join(
            f"; extends the checkpoint saved in {a.path} (tree size {a.tree_size})" for a in self.against if a.ok
        )
        warning = f"; WARNING: {self.pin_warning}" if self.pin_warning else ""
        return f"{head}; {signed}{tail}{against}{self.witness_line()}{warning} ({self.seconds:.2f} s)"

    def witness_line(self) -> str:
        if not self.witness_checked:
            return ""
        if not self.witnessed_size:
            return "; no witness has cosigned this log: a writer of the database could truncate it to an earlier checkpoint"
        after = self.events - self.witnessed_size
        rest = f", the {after} events after it are not yet witnessed" if after else ", nothing after it"
        return f"; witnessed up to seq {self.witnessed_size} by {', '.join(self.witnesses)}{rest}"


class ProblemLog:
    """The problems of one verification: the first ``MAX_PROBLEMS`` kept, all counted."""

    def __init__(self, result: VerifyResult) -> None:
        self.result = result
        self.seen = 0

    def add(self, check: str, seq: int | None, what: str) -> None:
        self.seen += 1
        if len(self.result.problems) < MAX_PROBLEMS:
            self.result.problems.append(Problem(check, seq, what))


def verify_junit(result: VerifyResult) -> str:
    """JUnit XML with one test case per check, so CI shows which one failed."""
    from ..junit import JUnitCase, junit_xml

    cases = []
    for check in CHECKS:
        found = [p for p in result.problems if p.check == check]
        cases.append(
            JUnitCase(
                name=check,
                classname="llm-audit.verify",
                failure=str(found[0]) if found else None,
                details="\n".join(str(p) for p in found),
                failure_type="tampered",
            )
        )
    return junit_xml("llm-audit verify", "llm-audit verify", cases, seconds=result.seconds, output=result.summary())
