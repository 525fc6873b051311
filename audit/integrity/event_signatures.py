"""Every event authenticated when written: the check of the writers' signatures in ``verify``'s chain pass.

Since 0.3 each event carries the log key's Ed25519 signature over its leaf (:func:`.chain.event_message`),
and a signed event's leaf uses the domain ``llm-audit/event/v2``, so removing a signature changes the leaf.
Once one event is signed, every later one must be; each event no valid checkpoint covers must be signed by
the log's key at that point (a forged sign-off, tombstone or release at the tail is named at once). Covered
events were checked by the checkpoint's signer before it signed (``checkpoint`` refuses otherwise), so their
signatures are not checked again: that keeps ``verify`` at one Ed25519 check per uncovered event.
"""

from __future__ import annotations

from .chain import ChainedEvent, event_message
from .results import ProblemLog
from .signing import VerifyKey


class EventSignatures:
    def __init__(self, report: ProblemLog) -> None:
        self.report = report
        self.seen_signed = False
        self.pending: list[tuple[ChainedEvent, str]] = []

    def add(self, event: ChainedEvent, signature: str | None) -> None:
        if signature is not None:
            self.seen_signed = True
            self.pending.append((event, signature))
        elif self.seen_signed:
            self.report.add(
                "event-signature",
                event.seq,
                f"{event.kind} {event.subject_id} carries no signature, but the events before it do: it was appended "
                "without the log's key (table events column signature)",
            )

    def covered(self, size: int) -> None:
        """A valid checkpoint covers every event up to ``size``: its signer checked their signatures."""
        self.pending = [(e, s) for e, s in self.pending if e.seq > size]

    def check(self, key: VerifyKey | None) -> None:
        """Check the pending signatures against ``key`` (the log's key when they were written)."""
        if key is None:
            return  # no checkpoint names the log's key yet: nothing to check them against, and nothing is covered
        for event, signature in self.pending:
            if not key.verify(signature, event_message(event.leaf_hash)):
                self.report.add(
                    "event-signature",
                    event.seq,
                    f"{event.kind} {event.subject_id}: its signature (table events column signature) is not by the "
                    f"log's key {key.key_id}: it was forged or appended without the key",
                )
        self.pending = []


__all__ = ["EventSignatures"]
