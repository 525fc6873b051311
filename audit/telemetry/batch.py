"""``llm-audit otel-export``: the records of a period (and the fairness runs made in it) sent as spans."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..clock import normalise_time
from ..store import AuditStore
from .sender import Sender
from .spans import fairness_span, record_span

BATCH = 256


@dataclass
class ExportOutcome:
    endpoint: str
    records: int
    fairness_runs: int
    sent: int
    dropped: int

    def to_dict(self) -> dict:
        return asdict(self)


def export_period(
    db_path: Path,
    endpoint: str,
    *,
    since: str | None,
    until: str | None = None,
    use_case: str | None = None,
    content: bool = False,
    timeout: float = 10.0,
    exporter: object | None = None,
) -> ExportOutcome:
    sender = Sender(endpoint, timeout, exporter)
    outcome = ExportOutcome(sender.url, 0, 0, 0, 0)

    def flush(specs: list) -> None:
        result = sender.send(specs)
        outcome.sent += result.sent
        outcome.dropped += result.dropped
        specs.clear()

    try:
        with AuditStore.open(db_path) as store:
            pending: list = []
            for record in store.records.iter(use_case=use_case, since=since, until=until):
                logged = store.events.logged("generation", record.id)
                pending.append(
                    record_span(record, logged.seq if logged else None, store.replays.latest(record.id), content)
                )
                outcome.records += 1
                if len(pending) >= BATCH:
                    flush(pending)
            low = normalise_time(since, "--since", store_format=True) or ""
            high = normalise_time(until, "--until", store_format=True) or "9999"
            for run in store.fairness.iter():
                if (use_case is None or run.use_case in (None, use_case)) and low <= (run.created_at or "") < high:
                    logged = store.events.logged("fairness", run.id)
                    pending.append(fairness_span(run, logged.seq if logged else None))
                    outcome.fairness_runs += 1
            flush(pending)
    finally:
        sender.close()
    return outcome
