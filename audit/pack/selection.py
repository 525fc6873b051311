"""Which records a pack holds: one typed selection, validated once, written into the pack as its query.

The selection is evaluated on the *logged* payloads of the log at the checkpoint, by the very
predicate the offline verifier applies (:func:`audit.pack.verifier.match`), so what the exporter
chose and what the recipient re-checks cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import normalise_time
from ..errors import UserError


@dataclass(frozen=True)
class Selection:
    use_case: str | None = None
    since: str | None = None  # store format (UTC, microseconds), compared as text with ``started_at``
    until: str | None = None
    decision: str | None = None  # the decision's chosen label
    reviewed: bool | None = None  # True: signed off at least once; False: never
    ids: tuple[str, ...] | None = None

    @classmethod
    def build(
        cls,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        decision: str | None = None,
        reviewed: bool | None = None,
        ids: list[str] | tuple[str, ...] | None = None,
        ids_file: Path | str | None = None,
    ) -> Selection:
        """Validate the options as a user gives them (times in ISO 8601, ids one per line in ``ids_file``)."""
        if ids_file is not None:
            ids = [*(ids or []), *read_ids(Path(ids_file))]
        since_n = normalise_time(since, "--since", store_format=True)
        until_n = normalise_time(until, "--until", store_format=True)
        if since_n and until_n and until_n <= since_n:
            raise UserError(f"--until {until} is not after --since {since}: the selection would be empty")
        return cls(
            use_case or None, since_n, until_n, decision or None, reviewed, tuple(dict.fromkeys(ids)) if ids else None
        )

    def terms(self) -> dict[str, Any]:
        """The selection as the pack states it (and the verifier re-applies it)."""
        return {
            "use_case": self.use_case,
            "since": self.since,
            "until": self.until,
            "decision": self.decision,
            "reviewed": self.reviewed,
            "ids": list(self.ids) if self.ids is not None else None,
        }

    def describe(self) -> str:
        shown = [f"{k}={v}" for k, v in self.terms().items() if v is not None and k != "ids"]
        if self.ids is not None:
            shown.append(f"{len(self.ids)} ids")
        return ", ".join(shown) or "every record"


def read_ids(path: Path) -> list[str]:
    """Record ids, one per line (blank lines and ``#`` comments ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read the ids file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"ids file {path} is not UTF-8 text: write one record id per line") from None
    ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise UserError(f"ids file {path} names no record: write one record id per line")
    return ids
