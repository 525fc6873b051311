"""Retention: when a record may be erased, and what ``llm-audit retention`` would do today.

Every sealed record carries its retention class and the date its minimum ends
(``retain_until``, computed when it was stored, from ``started_at``). A record is *due*
once that date has passed, it is not erased yet, and no legal hold covers it (a hold on
the record or on its data subject). Nothing inside its minimum or under hold is ever due.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import UserError

STATES = ("due", "within-minimum", "on-hold", "erased", "no-key")


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_period(moment: datetime, count: int, unit: str) -> datetime:
    """Calendar arithmetic: 25 months after 31 Jan is the last day of February, never earlier."""
    if unit == "day":
        from datetime import timedelta

        return moment + timedelta(days=count)
    months = count * (12 if unit == "year" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def retain_until(started_at: str, count: int, unit: str) -> str:
    return add_period(parse_time(started_at), count, unit).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RetentionItem:
    record_id: str
    subject: str
    use_case: str
    started_at: str
    retention_class: str
    retain_until: str
    state: str  # one of STATES
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hold:
    scope: str  # "record" | "subject"
    target: str  # record id or subject reference
    reason: str
    at: str
    operator: str


def active_holds(hold_events: list[tuple[str, dict[str, Any]]]) -> list[Hold]:
    """The legal holds in force after ``hold_events`` ((kind, payload) in log order): a hold not
    followed by a release of the same target."""
    active: dict[tuple[str, str], Hold] = {}
    for kind, p in hold_events:
        key = (p["scope"], p["target"])
        if kind == "hold":
            active[key] = Hold(p["scope"], p["target"], p["reason"], p["at"], p.get("operator", ""))
        else:
            active.pop(key, None)
    return list(active.values())


def covering_hold(holds: list[Hold], record_id: str, subject: str) -> Hold | None:
    return next((h for h in holds if (h.scope, h.target) in (("record", record_id), ("subject", subject))), None)


def classify(
    row: dict[str, Any], now: datetime, holds: list[Hold], erased: dict[str, dict[str, Any]], has_key: bool
) -> RetentionItem:
    privacy = row["privacy"]
    item = RetentionItem(
        row["id"],
        privacy["subject"],
        row["use_case"],
        row["started_at"],
        privacy["retention_class"],
        privacy["retain_until"],
        "due",
    )
    hold = covering_hold(holds, row["id"], privacy["subject"])
    if row["id"] in erased:
        item.state, item.detail = (
            "erased",
            f"erased on {erased[row['id']]['erased_at'][:10]} under {erased[row['id']]['reason']!r}",
        )
    elif parse_time(privacy["retain_until"]) > now:
        item.state, item.detail = (
            "within-minimum",
            f"minimum ({privacy.get('minimum', '?')}) runs until {privacy['retain_until'][:10]}",
        )
    elif hold is not None:
        item.state, item.detail = "on-hold", f"legal hold on the {hold.scope} since {hold.at[:10]}: {hold.reason}"
    elif not has_key:
        item.state, item.detail = (
            "no-key",
            "this key store holds no key for it: pass the key store it was recorded with",
        )
    return item


def check_as_of(as_of: str | None, apply: bool) -> datetime:
    """The moment to evaluate at; ``--apply`` only ever at the real present (no erasing 'in the future')."""
    now = datetime.now(UTC)
    if as_of is None:
        return now
    try:
        moment = parse_time(as_of)
    except ValueError:
        raise UserError(f"--as-of {as_of!r} is not an ISO 8601 date or time: write e.g. 2027-03-01") from None
    if apply and moment > now:
        raise UserError(
            "--apply erases what is due now; --as-of in the future would erase inside the minimum: drop --as-of or --apply"
        )
    return moment
