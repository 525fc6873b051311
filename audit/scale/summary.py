"""What a batch did, per worker: the final table and the ``--json`` object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import UserError


@dataclass
class WorkerStats:
    records: int = 0
    failures: int = 0
    retried: int = 0
    busy_s: float = 0.0  # seconds spent computing (model loading excluded)

    def all_results(self) -> list[Any]:
        """The stored results, or the first failure as the error (a caller that wanted every one of them)."""
        if self.failures:
            record_id, error = next(iter(self.failures.items()))
            raise UserError(f"{self.kind} of {record_id} failed ({error}); {self.stored} {self.kind}(s) were stored")
        return list(self.results)

    @property
    def rate(self) -> float:
        """Records per busy second: how fast this worker is, whatever the others do."""
        return self.records / self.busy_s if self.busy_s > 0 else 0.0


@dataclass
class BatchSummary:
    """Counts of one ``--all`` run; ``stored + failed + duplicates`` is what workers sent back."""

    kind: str  # "explanation" | "replay"
    executor: str  # "in-process" | "ray"
    workers: int
    selected: int = 0  # records matching the filters
    already_done: int = 0  # stored by an earlier run with the same method and parameters
    skipped: dict[str, str] = field(default_factory=dict)  # record id -> why it cannot be done
    todo: int = 0  # sent to workers
    stored: int = 0
    duplicates: int = 0  # results not stored because the same result was already there
    retried: int = 0  # records resubmitted after their worker died
    failures: dict[str, str] = field(default_factory=dict)  # record id -> error
    warnings: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    stored_ids: list[str] = field(default_factory=list)  # ids of the stored explanations / replays
    per_worker: dict[str, WorkerStats] = field(default_factory=dict)
    # The stored results as computed (clear, before sealing), in stored order; not part of --json.
    results: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def all_results(self) -> list[Any]:
        """The stored results, or the first failure as the error (a caller that wanted every one of them)."""
        if self.failures:
            record_id, error = next(iter(self.failures.items()))
            raise UserError(f"{self.kind} of {record_id} failed ({error}); {self.stored} {self.kind}(s) were stored")
        return list(self.results)

    @property
    def rate(self) -> float:
        """Stored results per wall-clock second of the whole run (including model loading)."""
        return self.stored / self.seconds if self.seconds > 0 else 0.0

    def worker(self, name: str) -> WorkerStats:
        return self.per_worker.setdefault(name, WorkerStats())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, results=[]))
        data.pop("results")
        data.update(failed=self.failed, records_per_s=round(self.rate, 4))
        data["per_worker"] = {
            name: {**asdict(s), "records_per_s": round(s.rate, 4)} for name, s in self.per_worker.items()
        }
        return data

    def table(self) -> str:
        lines = [f"{'worker':28}  {'records':>7}  {'failures':>8}  {'retried':>7}  {'busy s':>8}  {'rec/s':>7}"]
        for name, s in sorted(self.per_worker.items()):
            lines.append(
                f"{name:28}  {s.records:>7}  {s.failures:>8}  {s.retried:>7}  {s.busy_s:>8.2f}  {s.rate:>7.3f}"
            )
        lines.append(
            f"{'total (' + self.executor + ', ' + str(self.workers) + ' worker' + ('s' if self.workers != 1 else '') + ')':28}  "
            f"{self.stored + self.failed + self.duplicates:>7}  {self.failed:>8}  {self.retried:>7}  {self.seconds:>8.2f}  {self.rate:>7.3f}"
        )
        lines.append("")
        state = "INTERRUPTED: run the same command again to resume; " if self.interrupted else ""
        lines.append(
            f"{state}{self.kind}s stored: {self.stored}; already stored before this run: {self.already_done}; "
            f"failed: {self.failed}; retried after a worker died: {self.retried}; skipped: {len(self.skipped)} "
            f"(of {self.selected} selected records)"
        )
        if self.duplicates:
            lines.append(f"{self.duplicates} result(s) arrived for records already stored and were not stored again")
        for record_id, error in list(self.failures.items())[:10]:
            lines.append(f"  failed  {record_id}  {error}")
        for record_id, reason in list(self.skipped.items())[:5]:
            lines.append(f"  skipped {record_id}  {reason}")
        if len(self.skipped) > 5:
            lines.append(f"  ... and {len(self.skipped) - 5} more skipped")
        return "\n".join(lines)
