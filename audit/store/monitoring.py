"""The monitor's reads (:mod:`audit.monitor`): decided records in a period, their latest replay and sign-off.

Monitoring reads many records but only a few of their columns, so these queries select those columns
alone. Every value is read as the record readers read it (the ``decision`` and ``variables`` columns
parsed from their stored JSON and built into :class:`~audit.record.DecisionRecord`, the object
verification's payload covers), never with ``json_extract`` inside an evidence column. Latest means
latest in the hash chain's order, as everywhere in the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..record import DecisionRecord
from .events import TABLE as EVENTS
from .records import TABLE as GENERATIONS


@dataclass
class DecidedRow:
    """One recorded decision, with what monitoring segments and counts it by."""

    seq: int
    record_id: str
    started_at: str
    use_case: str
    variables: dict[str, Any]  # template fields (empty for a prompt without a template)
    decision: DecisionRecord


def _decided(seq: int, record_id: str, started: str, case: str, variables: str | None, decision: str) -> DecidedRow:
    """A row's columns parsed as the record reader parses them (``GenerationRecord.from_dict``'s decision)."""
    parsed = json.loads(variables) if variables else {}
    return DecidedRow(seq, record_id, started, case, parsed, DecisionRecord.from_dict(json.loads(decision)))


class MonitoringQueries:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def _period(self, since: str, until: str, use_case: str | None, alias: str = "") -> tuple[str, list[Any]]:
        prefix = f"{alias}." if alias else ""
        where = f"{prefix}started_at >= ? AND {prefix}started_at < ?"
        params: list[Any] = [since, until]
        if use_case:
            where += f" AND {prefix}use_case = ?"
            params.append(use_case)
        return where, params

    def decisions(self, since: str, until: str, use_case: str | None = None) -> Iterator[DecidedRow]:
        """Records with a decision started in [since, until) (store-format times), in the log's order."""
        table = self.db[GENERATIONS]
        if not table.exists() or "decision" not in table.columns_dict:
            return
        where, params = self._period(since, until, use_case)
        for row in self.db.execute(
            f"SELECT seq, id, started_at, use_case, variables, decision FROM {GENERATIONS} "
            f"WHERE decision IS NOT NULL AND {where} ORDER BY seq",
            params,
        ):
            yield _decided(*row)

    def _latest(self, table: str, kind: str, column: str, since: str, until: str, use_case: str | None) -> dict:
        if not self.db[table].exists() or not self.db[GENERATIONS].exists():
            return {}
        where, params = self._period(since, until, use_case, "g")
        rows = self.db.execute(
            f"SELECT t.record_id, t.{column} FROM {table} t JOIN {EVENTS} e ON e.subject_id = t.id AND e.kind = ? "
            f"JOIN {GENERATIONS} g ON g.id = t.record_id WHERE {where} ORDER BY e.seq",
            [kind, *params],
        )
        return dict(rows.fetchall())  # later events overwrite earlier ones: the latest in the chain's order

    def latest_replay_verdicts(self, since: str, until: str, use_case: str | None = None) -> dict[str, str]:
        """Record id -> the verdict of its latest replay, for records started in [since, until)."""
        return self._latest("replays", "replay", "verdict", since, until, use_case)

    def effective_sign_offs(self, since: str, until: str, use_case: str | None = None) -> dict[str, str]:
        """Record id -> the action (``accept`` | ``override``) of its effective (latest) sign-off."""
        return self._latest("reviews", "review", "action", since, until, use_case)

    def decision_period(
        self, since: str | None, until: str | None, use_case: str | None = None
    ) -> tuple[str, str] | None:
        """(first, last) start time of the records with a decision in the period (store-format times), or None."""
        table = self.db[GENERATIONS]
        if not table.exists() or "decision" not in table.columns_dict:
            return None
        where, params = self._period(since or "", until or "9999", use_case)
        first, last = self.db.execute(
            f"SELECT MIN(started_at), MAX(started_at) FROM {GENERATIONS} WHERE decision IS NOT NULL AND {where}", params
        ).fetchone()
        return (first, last) if first is not None else None

    def last_seq(self) -> int:
        """The newest record's position (0: none)."""
        if not self.db[GENERATIONS].exists():
            return 0
        return int(self.db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {GENERATIONS}").fetchone()[0])

    def decisions_after(self, seq: int, limit: int = 10_000) -> list[DecidedRow]:
        """Records with a decision stored after position ``seq``, oldest first, at most ``limit``."""
        table = self.db[GENERATIONS]
        if not table.exists() or "decision" not in table.columns_dict:
            return []
        rows = self.db.execute(
            f"SELECT seq, id, started_at, use_case, variables, decision FROM {GENERATIONS} "
            "WHERE seq > ? AND decision IS NOT NULL ORDER BY seq LIMIT ?",
            [seq, limit],
        )
        return [_decided(*row) for row in rows]
